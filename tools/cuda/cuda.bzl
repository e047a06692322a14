"""The one place nvcc flags live. BUILD files use cuda_library() and never repeat flags.

cuda_library(name, srcs = [*.cu], hdrs, deps) compiles each .cu with nvcc for the
architectures of --//tools/cuda:archs and wraps the objects in a cc_library that also
links static cudart, so host code depends on it like on any other library.
"""

load("@cuda//:defs.bzl", "NVCC")

CudaArchsInfo = provider(fields = ["archs"])

def _cuda_archs_impl(ctx):
    archs = [a.strip() for a in ctx.build_setting_value.split(",") if a.strip()]
    for a in archs:
        digits = a[3:] if a.startswith("ptx") else a
        if not digits or not digits.rstrip("a").isdigit():
            fail("--//tools/cuda:archs: '%s' is not an architecture; use e.g. 90a,80,ptx90" % a)
    return CudaArchsInfo(archs = archs)

cuda_archs = rule(
    implementation = _cuda_archs_impl,
    build_setting = config.string(flag = True),
)

# Host flags match the C++ toolchain's determinism rules (no fast-math, no contraction).
_NVCC_FLAGS = [
    "-std=c++17",
    "-O3",
    "-lineinfo",
    "--expt-relaxed-constexpr",
    "-Xcompiler=-fPIC,-ffp-contract=off,-fno-fast-math",
    "-Xptxas=-warn-spills",
    "-ccbin=g++",
]

def _gencode(arch):
    if arch.startswith("ptx"):
        v = arch[3:]
        return "-gencode=arch=compute_%s,code=compute_%s" % (v, v)
    return "-gencode=arch=compute_%s,code=sm_%s" % (arch, arch)

def _cuda_objects_impl(ctx):
    cc_infos = [d[CcInfo] for d in ctx.attr.deps if CcInfo in d]
    comp = [c.compilation_context for c in cc_infos]
    headers = depset(ctx.files.hdrs, transitive = [c.headers for c in comp])
    include_dirs = depset(transitive = [c.includes for c in comp] + [c.system_includes for c in comp])
    quote_dirs = depset(transitive = [c.quote_includes for c in comp])
    defines = depset(transitive = [c.defines for c in comp])
    archs = ctx.attr._archs[CudaArchsInfo].archs

    outs = []
    for src in ctx.files.srcs:
        out = ctx.actions.declare_file("_cuda_objs/%s/%s.pic.o" % (ctx.label.name, src.basename[:-3]))
        args = ctx.actions.args()
        args.add_all(_NVCC_FLAGS)
        args.add_all([_gencode(a) for a in archs])
        args.add_all(ctx.attr.copts)
        args.add("-I.")
        args.add("-I" + ctx.bin_dir.path)
        args.add_all(quote_dirs, format_each = "-I%s")
        args.add_all(include_dirs, format_each = "-I%s")
        args.add_all(defines, format_each = "-D%s")
        args.add_all(["-c", src.path, "-o", out.path])
        ctx.actions.run(
            executable = NVCC,
            arguments = [args],
            inputs = depset([src], transitive = [headers]),
            outputs = [out],
            mnemonic = "Nvcc",
            progress_message = "nvcc %s" % src.short_path,
            use_default_shell_env = True,
            # nvcc is a system compiler outside the workspace, like the host g++.
            execution_requirements = {"no-sandbox": "1"},
        )
        outs.append(out)
    return [DefaultInfo(files = depset(outs))]

_cuda_objects = rule(
    implementation = _cuda_objects_impl,
    attrs = {
        "srcs": attr.label_list(allow_files = [".cu"]),
        "hdrs": attr.label_list(allow_files = [".h", ".cuh"]),
        "deps": attr.label_list(),
        "copts": attr.string_list(),
        "_archs": attr.label(default = "//tools/cuda:archs"),
    },
)

def cuda_library(name, srcs, hdrs = [], deps = [], copts = [], visibility = None, **kwargs):
    """A cc_library whose .cu sources are compiled by nvcc (see module docstring)."""
    _cuda_objects(
        name = name + "_nvcc",
        srcs = srcs,
        hdrs = hdrs,
        deps = deps + ["@cuda//:headers"],
        copts = copts,
        visibility = ["//visibility:private"],
    )
    native.cc_library(
        name = name,
        srcs = [":" + name + "_nvcc"],
        hdrs = hdrs,
        deps = deps + ["@cuda//:cudart_static"],
        linkstatic = 1,
        alwayslink = 1,
        visibility = visibility,
        **kwargs
    )
