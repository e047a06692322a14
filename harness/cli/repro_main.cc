// repro: reproducibility and profiling harness for the Wan2.1 denoising engine.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "harness/cli/commands.h"
#include "harness/cli/exit_codes.h"

namespace {

constexpr const char* kUsage = R"(usage: repro <command> [flags]

commands:
  run            repeated seeded generations of one case: per-run SHA-1 of the final latents,
                 determinism verdict, golden verdict, times, JSON report
                 (--runs N, --seeds a,b, --fresh-process, --report PATH, --save-latents PATH,
                  --golden-dir DIR, --no-golden, --force, --quiet; on CUDA: per-kernel CUPTI
                  timings by default (--no-kernels), --no-cuda-graphs, --profile-steps A:B
                  for cudaProfilerStart/Stop around steps A..B)
  golden check   run the case once and compare with golden/<case>.json
  golden update  record the case's hash for this environment class (--force to replace)
  trace          SHA-1 chain over every intermediate (step, branch, block, op)
                 (--out FILE, --dump STEP:BRANCH:BLOCK:OP[,...], --debug-perturb STEP:BRANCH:BLOCK:OP)
  trace --diff A B [--rerun | --rerun-recorded]
                 first divergent op of two traces, with max abs / rel L2 / ULP / count;
                 --rerun re-runs both traces' commands with this executable to dump the op,
                 --rerun-recorded also runs programs other than this one that the traces name
  compare BASE.json CAND.json
                 bit-exactness, then faster / slower / same within noise / inconclusive, end to
                 end and per kernel: Welch tests on per-process means of log times against a
                 minimum effect (TOST for "same"), hierarchical Benjamini-Hochberg over kernel
                 names and ranges, the bootstrap CI of the median ratio beside; not comparable
                 (exit 12) when no seed is shared or outputs differ across environment classes;
                 --md/--json/--html FILE, --min-effect 0.005, --kernel-min-effect 0.003, --alpha 0.05
  ab --base BIN --cand BIN [case flags]
                 interleaved A/B of two builds in fresh processes (ABBA order), then compare
                 (--processes 8, --runs-per-process 3, --out-dir DIR)
  ab --base-cmd 'PROGRAM ARGS' --cand-cmd 'PROGRAM ARGS' [exec flags]
                 the same for two commands of any program: ABBA pairs of `exec` runs
  exec [flags] -- PROGRAM ARGS...
                 any CUDA program under the harness: N runs, each a fresh process with a fresh
                 {run_dir} (also $REPRO_RUN_DIR); kernels traced by CUPTI injection and
                 attributed to the program's NVTX ranges (child processes included); outputs
                 hashed; the same run report as `run` (--runs 3, --hash GLOB[,GLOB] relative to
                 {run_dir}, --hash-mode auto|raw, --time-range NAME (the run's time: host
                 durations of the NVTX ranges NAME or NAME/...), --capture-range
                 none|cudaProfilerApi, --timeout 3600, --warmup N, --no-trace, --show-output,
                 --out-dir DIR, --report PATH, --force, --inject-lib PATH)
  bench --benchmarks BIN[,BIN...]
                 runs Google Benchmark kernel suites (--repetitions 10, --filter, --flush-l2)
                 into a run-shaped report that `repro compare` judges per benchmark
  attention --backend B --input IN.safetensors --output OUT.safetensors [--grid T,H,W]
                 one attention backend on q, k, v (and gate) from a file; writes 'out' and
                 times the call (--device, --layout bshd|bhsd, --scale, --runs 10, --force)
  devices        the environment fingerprint of this machine
  help           this text

case flags (defaults: the built-in case, wan-tiny on synthetic weights, 8 steps):
  --model NAME|FILE.json   wan-tiny, wan-small, wan2.1-t2v-1.3b, wan2.1-t2v-14b, or a JSON config
  --weights synthetic:SEED|PATH   checkpoint file, folder or sharded index (diffusers/Wan layout)
  --backend NAME[:key=value,...]  dense[:kernel=auto|sm90_ws|sm90_plain|mma_sync],
                 video_sparse[:sparsity=0.9], sliding_tile[:tile=6x8x8,window=3x3x5|full,strategy=FILE],
                 block_sparse[:keep=0.5,threshold=0.9,min_tiles=4],
                 sparse_linear[:ratio=0.1,feature_map=softmax|elu|relu],
                 video_moba[:temporal_chunk=2,spatial_chunk=3x4,st_chunk=4x6x4,threshold=0.25]
                 --device auto|cpu|cuda[:N]   --precision bf16|fp32
  --seed N  --steps N  --timesteps 1000,757,522  --frames N  --height N  --width N
  --guidance G  --shift S  --scheduler flow_unipc|flow_euler
  --prompt-embeds FILE  --negative-embeds FILE  --noise FILE   (safetensors)
  --vae synthetic:SEED|PATH   decode the latents (Wan2.1 VAE; diffusers vae/ folder or file,
                 or the original Wan2.1 VAE keys as safetensors); frames SHA-1 per run
  --vae-config wan2.1-vae|vae-tiny|FILE.json   --vae-conv cudnn|im2col (CUDA convolutions)
  --vae-tiling TILE,STRIDE   spatial tiles in output pixels (diffusers' 256,192): less memory
  --cudnn PATH   where libcudnn.so.9 is looked for first (else searched: loader path,
                 /usr/local/cuda/lib64, Python site-packages nvidia/cudnn/lib)
run only: --video OUT.y4m|OUT.mp4|FOLDER (PNG frames)  --fps 16

exit codes: 0 ok (deterministic; golden matched, missing or not comparable), 1 runs differ,
  2 bad command line, 3 corrupt or unreadable input file, 4 golden mismatch,
  5 traces differ, 6 unavailable (no GPU, out of memory, I/O), 7 refused to overwrite,
  8 regression (compare), 9 outputs not bit-exact (compare), 10 inconclusive (compare),
  11 a run of the program failed, timed out or wrote no --hash file (exec; the other runs
  are kept in the report), 12 not comparable (compare: no common seed, or the outputs differ
  while the environments' fingerprint classes differ), 70 internal error
)";

}  // namespace

int main(int argc, char** argv) {
  // Under `bazel run`, work where the user typed the command (golden/, repro-out/).
  if (const char* dir = std::getenv("BUILD_WORKING_DIRECTORY")) {
    if (chdir(dir) != 0) std::fprintf(stderr, "repro: cannot enter %s\n", dir);
  }
  const std::vector<std::string> all(argv, argv + argc);
  if (argc < 2 || all[1] == "help" || all[1] == "--help" || all[1] == "-h") {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? wan::cli::kExitUsage : wan::cli::kExitOk;
  }
  const std::string command = all[1];
  const std::vector<std::string> rest(all.begin() + 2, all.end());
  if (command == "run") return wan::cli::run_command(rest, all);
  if (command == "golden") return wan::cli::golden_command(rest);
  if (command == "trace") return wan::cli::trace_command(rest, all);
  if (command == "devices") return wan::cli::devices_command(rest);
  if (command == "compare") return wan::cli::compare_command(rest);
  if (command == "ab") return wan::cli::ab_command(rest);
  if (command == "bench") return wan::cli::bench_command(rest);
  if (command == "attention") return wan::cli::attention_command(rest);
  if (command == "exec") return wan::cli::exec_command(rest, all);
  std::fprintf(stderr, "repro: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return wan::cli::kExitUsage;
}
