# cmake -DBUILD=<lorafgc build> -DWORK=<scratch> -DPYTHON=<interpreter> -DSOURCE=<tests/consumer> -P check.cmake
# Installs the build into WORK/prefix, builds and runs the consumer project
# against the installed CMake package, and imports the installed Python package
# (from there, with nothing of the build tree on its path).
file(REMOVE_RECURSE ${WORK})
function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGN}")
  endif()
endfunction()
run(${CMAKE_COMMAND} --install ${BUILD} --prefix ${WORK}/prefix)
run(${CMAKE_COMMAND} -S ${SOURCE} -B ${WORK}/build -DCMAKE_PREFIX_PATH=${WORK}/prefix -DCMAKE_BUILD_TYPE=Release)
run(${CMAKE_COMMAND} --build ${WORK}/build -j 2)
run(${WORK}/build/consumer)
file(STRINGS ${BUILD}/CMakeCache.txt site REGEX "^LORAFGC_PYTHON_INSTALL_DIR:")
string(REGEX REPLACE "^[^=]*=" "" site "${site}")
run(${CMAKE_COMMAND} -E env --unset=PYTHONPATH PYTHONPATH=${WORK}/prefix/${site} ${PYTHON}
    ${SOURCE}/check_module.py ${WORK}/prefix)
# With the default prefix the package lands where the interpreter looks without PYTHONPATH.
run(${PYTHON} -c "import sys\nd = '/usr/local/${site}'\nassert d in sys.path, (d, sys.path)\nprint('on sys.path:', d)")
