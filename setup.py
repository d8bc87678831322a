"""Build step: ship the live view and the config presets inside the package.

The sources people edit stay the checkout's top-level ``index.html`` and ``config/*.toml`` (no
second copy in git). Building a wheel copies them into ``zmqzab/assets/`` of the build, where an
installed zmqzab finds them (zmqzab/resources.py). An editable install needs no copy: run from
the checkout, zmqzab reads the checkout's own files.
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
ASSETS = {"index.html": "index.html", **{f"config/{p.name}": f"config/{p.name}"
                                         for p in sorted((ROOT / "config").glob("*.toml"))}}


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return
        for source, target in ASSETS.items():
            out = Path(self.build_lib) / "zmqzab" / "assets" / target
            out.parent.mkdir(parents=True, exist_ok=True)
            self.copy_file(str(ROOT / source), str(out))

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        assets = [str(Path(self.build_lib) / "zmqzab" / "assets" / t) for t in ASSETS]
        return super().get_outputs(include_bytecode) + assets


setup(cmdclass={"build_py": BuildPyWithAssets})
