"""Build the compiled kernels; all metadata lives in pyproject.toml."""
from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("microchimera.count._kernels", ["src/microchimera/count/_kernels.pyx"],
                   extra_compile_args=["-O3"]),
         Extension("microchimera.count._index", ["src/microchimera/count/_index.pyx"],
                   extra_compile_args=["-O3"]),
         Extension("microchimera.count._umi", ["src/microchimera/count/_umi.pyx"],
                   extra_compile_args=["-O3"]),
         Extension("microchimera.model._betabinom", ["src/microchimera/model/_betabinom.pyx"],
                   extra_compile_args=["-O3"]),
         Extension("microchimera.model.fit._grid", ["src/microchimera/model/fit/_grid.pyx"],
                   extra_compile_args=["-O3"])],
        compiler_directives={"language_level": "3"},
    ),
)
