"""Print the CPU kernel levels (ATEN_CPU_CAPABILITY values) torch can dispatch to on this machine, other than
the one it uses now: `make test` re-runs the `cross_path` tests under each of them.

torch picks one SIMD kernel set at start-up (the CPU's best unless ATEN_CPU_CAPABILITY caps it), and two code
paths that agree bit for bit under one set may differ in the last bits under another: the default build,
AVX2 and AVX-512 vectorise reductions differently.
"""
import os
import subprocess
import sys

X86_LEVELS = ["default", "avx2", "avx512"]
PROBE = "import torch; print(torch.backends.cpu.get_cpu_capability().lower())"


def capability(environment: dict) -> str:
    return subprocess.run([sys.executable, "-c", PROBE], env=environment, capture_output=True, text=True,
                          check=True).stdout.strip()


def main() -> None:
    native = capability({k: v for k, v in os.environ.items() if k != "ATEN_CPU_CAPABILITY"})
    current = capability(dict(os.environ))
    levels = X86_LEVELS[:X86_LEVELS.index(native) + 1] if native in X86_LEVELS else ["default", native]
    print(" ".join(level for level in dict.fromkeys(levels) if level != current))


if __name__ == "__main__":
    main()
