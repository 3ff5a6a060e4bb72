# Runs CMD with ARGS (a ;-list) and checks that the exit code is CODE and that the output matches
# PATTERN: stdout and stderr together when CODE is 0 (results go to stdout, a command's closing
# "wrote ..." to stderr), else stderr alone, which must then be exactly one line (the error
# standard: one line naming the file, field or flag).
execute_process(COMMAND ${CMD} ${ARGS} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL ${CODE})
  message(FATAL_ERROR "expected exit ${CODE}, got ${rc}\nstdout: ${out}\nstderr: ${err}")
endif()
if(CODE EQUAL 0)
  if(NOT "${out}${err}" MATCHES "${PATTERN}")
    message(FATAL_ERROR "the output does not match '${PATTERN}':\n${out}\nstderr: ${err}")
  endif()
else()
  if(NOT err MATCHES "${PATTERN}")
    message(FATAL_ERROR "stderr does not match '${PATTERN}':\n${err}")
  endif()
  string(REGEX MATCHALL "\n" newlines "${err}")
  list(LENGTH newlines lines)
  if(NOT lines EQUAL 1)
    message(FATAL_ERROR "the error is not one line (${lines} lines):\n${err}")
  endif()
endif()
