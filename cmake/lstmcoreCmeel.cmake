# Eigen from PyPI: the cmeel-eigen wheel installs Eigen's CMake package under a `cmeel.prefix`
# folder of site-packages. lstmcore_add_cmeel_prefix() prepends that folder to CMAKE_PREFIX_PATH
# (in the caller's scope) so that find_package(Eigen3 CONFIG) finds it. Used by the project's own
# CMakeLists.txt and by the installed lstmcoreConfig.cmake, so a consumer finds Eigen the same way.
# Without a Python interpreter, or without cmeel, nothing changes (Eigen3_DIR or a system Eigen
# still work).
function(lstmcore_add_cmeel_prefix)
  find_package(Python COMPONENTS Interpreter QUIET)
  if(NOT Python_FOUND)
    return()
  endif()
  # `python -m cmeel cmake` prints the prefix (also inside pip's isolated build environment);
  # without the cmeel module, look for a cmeel.prefix folder on sys.path.
  execute_process(COMMAND "${Python_EXECUTABLE}" -m cmeel cmake
    OUTPUT_VARIABLE _prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
  if(NOT _rc EQUAL 0 OR NOT IS_DIRECTORY "${_prefix}")
    execute_process(COMMAND "${Python_EXECUTABLE}" -c
        "import os, sys; print(next((os.path.join(p, 'cmeel.prefix') for p in sys.path if os.path.isdir(os.path.join(p, 'cmeel.prefix'))), ''))"
      OUTPUT_VARIABLE _prefix OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
  endif()
  if(_prefix)
    set(_path ${CMAKE_PREFIX_PATH})
    list(PREPEND _path "${_prefix}")
    set(CMAKE_PREFIX_PATH ${_path} PARENT_SCOPE)
  endif()
endfunction()
