"""Repository rule: wires the local CUDA toolkit ($CUDA_HOME or /usr/local/cuda) into Bazel."""

_BUILD = '''
package(default_visibility = ["//visibility:public"])

cc_library(
    name = "headers",
    hdrs = glob(["include/**/*.h", "include/**/*.hpp", "include/**/*.cuh", "include/**/*.inl"], allow_empty = True),
    includes = ["include"],
)

# cudart static: binaries run wherever a driver exists, with no libcudart.so beside them.
cc_library(
    name = "cudart_static",
    srcs = ["lib64/libcudart_static.a"],
    linkopts = ["-ldl", "-lpthread", "-lrt"],
    deps = [":headers"],
)

# cuBLAS, cuBLASLt and CUPTI are dynamic; the rpath names the toolkit's lib64, where the
# GPU machines have them too.
cc_library(
    name = "cublas",
    linkopts = ["-L{home}/lib64", "-lcublasLt", "-lcublas", "-Wl,-rpath,{home}/lib64"],
    deps = [":headers"],
)

cc_library(
    name = "cupti",
    linkopts = ["-L{home}/lib64", "-lcupti", "-Wl,-rpath,{home}/lib64"],
    deps = [":headers"],
)

# NVTX 3 is header-only (it dlopens an injection library only when a tool asks).
cc_library(
    name = "nvtx",
    deps = [":headers"],
    linkopts = ["-ldl"],
)
'''

def _cuda_configure_impl(ctx):
    home = ctx.os.environ.get("CUDA_HOME", "/usr/local/cuda")
    nvcc = ctx.path(home + "/bin/nvcc")
    if not nvcc.exists:
        fail("CUDA toolkit not found: %s does not exist. Install CUDA 13.x or set CUDA_HOME " % nvcc +
             "to a toolkit (tools/setup.sh explains).")
    real = ctx.path(home).realpath
    for entry in ["include", "lib64", "bin", "nvvm"]:
        ctx.symlink(str(real) + "/" + entry, entry)
    ctx.file("BUILD", _BUILD.replace("{home}", str(real)))
    ctx.file("defs.bzl", 'CUDA_HOME = "%s"\nNVCC = "%s/bin/nvcc"\n' % (real, real))

cuda_configure = repository_rule(
    implementation = _cuda_configure_impl,
    environ = ["CUDA_HOME"],
    local = True,
)
