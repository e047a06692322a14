export OUT0=$OUT; export OUT=$PWD/dev-out; mkdir -p $OUT; tar -xJf prev/bundle.tar.xz; B=$PWD/bundle; export LD_LIBRARY_PATH=$B/lib:/usr/local/cuda/lib64; cd $B/data
for t in wan_dit_cuda_test rng_test vae_ops_cuda_test; do timeout 45 $B/bin/$t > $OUT/$t.log 2>&1; echo "$t rc=$? $(grep -E '^\[  (PASSED|FAILED)' $OUT/$t.log|tr '\n' ' ')"; done
cd $OLDPWD; timeout 150 tools/device_dense.sh forward e2e50 2>&1 | grep -vE "^gpu|^bundle"
cd $B/data; for tool in memcheck racecheck; do timeout 25 /usr/local/cuda/bin/compute-sanitizer --tool $tool --error-exitcode 9 $B/bin/dit_norms_test --gtest_filter='*WarpPerRow*' > $OUT/$tool.log 2>&1; echo "$tool rc=$? $(grep -E 'ERROR SUMMARY|RACECHECK SUMMARY' $OUT/$tool.log|tail -1)"; done
cd $OLDPWD; timeout 60 tools/device_dense.sh e2e 2>&1 | grep -E "determinism|time |sha1" | tail -4
tar -czf $OUT0/callD.tar.gz -C $OUT .
