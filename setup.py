"""Build of lotteryfast and its compiled extension lotteryfast._C.

The C++ CPU kernels are always built (OpenMP; AVX-512 paths chosen at run time). The CUDA kernels
are added when the installed torch has CUDA and a CUDA toolkit is found (LOTTERYFAST_CUDA=0 skips
them, =1 makes their absence an error). Install with `pip install --no-build-isolation .` so that
pip builds against the torch already installed (torch==2.13.0, the CPU wheel, pinned in
pyproject.toml; a GPU machine's own CUDA torch there) instead of fetching another one.
"""

import os
from glob import glob

import torch
from setuptools import setup
from torch.utils.cpp_extension import CUDA_HOME, BuildExtension, CppExtension, CUDAExtension

CPU_SOURCES = [*sorted(glob("csrc/cpu/*.cpp")), "csrc/glue/ops.cpp", "csrc/glue/tensors.cpp"]
CXX_FLAGS = ["-O3", "-fopenmp", "-ffp-contract=off", "-fno-math-errno", "-Wall", "-Wno-unknown-pragmas"]
# Bit-identical results on every path (AVX-512, portable C++, CUDA): no fused multiply-adds the
# source does not ask for, IEEE division and square root.
# --split-compile=0: nvcc optimises the many kernel instantiations of a file on all cores.
NVCC_FLAGS = ["-O3", "--fmad=false", "-std=c++20", "--expt-relaxed-constexpr", "--split-compile=0"]


def cuda_wanted() -> bool:
    """Whether to compile the CUDA kernels (see the module docstring)."""
    setting = os.environ.get("LOTTERYFAST_CUDA", "auto")
    available = torch.version.cuda is not None and CUDA_HOME is not None
    if setting == "0":
        return False
    if setting == "1" and not available:
        raise RuntimeError("LOTTERYFAST_CUDA=1 but torch has no CUDA or no CUDA toolkit was found")
    return available


def extension():
    """The lotteryfast._C extension, with or without CUDA."""
    if cuda_wanted():
        sources = CPU_SOURCES + sorted(glob("csrc/cuda/*.cu")) + ["csrc/glue/cuda_ops.cpp"]
        return CUDAExtension(
            "lotteryfast._C",
            sources,
            define_macros=[("WITH_CUDA", None)]
            + ([("LOTTERYFAST_CUDA_STEP_SWEEP", None)] if os.environ.get("LOTTERYFAST_CUDA_STEP_SWEEP") == "1" else []),
            extra_compile_args={"cxx": CXX_FLAGS, "nvcc": NVCC_FLAGS},
            extra_link_args=["-fopenmp"],
        )
    return CppExtension(
        "lotteryfast._C",
        [*CPU_SOURCES, "csrc/glue/no_cuda.cpp"],
        extra_compile_args={"cxx": CXX_FLAGS},
        extra_link_args=["-fopenmp"],
    )


def ale_extension():
    """lotteryfast._ale, the Atari actor pool, when ALE's C++ library has been built
    (tools/build_ale.sh, into $ALE_PREFIX or build/ale); None otherwise."""
    prefix = os.environ.get("ALE_PREFIX", os.path.join(os.path.dirname(os.path.abspath(__file__)), "build", "ale"))
    lib = os.path.join(prefix, "lib", "libale.a")
    if os.environ.get("LOTTERYFAST_ALE", "auto") == "0" or not os.path.exists(lib):
        if os.environ.get("LOTTERYFAST_ALE") == "1":
            raise RuntimeError(f"LOTTERYFAST_ALE=1 but {lib} is missing: run tools/build_ale.sh")
        return None
    return CppExtension(
        "lotteryfast._ale",
        ["csrc/ale/pool.cpp", "csrc/ale/frames.cpp", "csrc/ale/bindings.cpp"],
        include_dirs=[os.path.join(prefix, "include")],
        depends=[lib],  # a rebuilt ALE (tools/build_ale.sh) relinks the pool
        extra_compile_args={"cxx": ["-O3", "-Wall", "-fvisibility=hidden"]},
        # ALE's objects are GCC LTO objects: link with g++ (setuptools does) and let it optimize.
        extra_link_args=[lib, "-lz", "-flto=auto"],
    )


def box2d_extension():
    """lotteryfast._box2d: LunarLander-v2 in C++ on the vendored Box2D 2.3.2 (third_party/box2d).
    Plain IEEE float arithmetic (no -ffast-math, no FMA contraction) keeps it bit-identical to
    gymnasium's pybox2d build."""
    return CppExtension(
        "lotteryfast._box2d",
        [
            "csrc/box2d/lunar_lander.cpp",
            "csrc/box2d/bindings.cpp",
            *sorted(glob("third_party/box2d/Box2D/**/*.cpp", recursive=True)),
        ],
        include_dirs=[os.path.join(os.path.dirname(os.path.abspath(__file__)), "third_party", "box2d")],
        extra_compile_args={"cxx": ["-O2", "-fopenmp", "-ffp-contract=off", "-fvisibility=hidden", "-Wno-unused"]},
        extra_link_args=["-fopenmp"],
    )


setup(
    ext_modules=[e for e in (extension(), ale_extension(), box2d_extension()) if e is not None],
    cmdclass={"build_ext": BuildExtension.with_options(use_ninja=True)},
)
