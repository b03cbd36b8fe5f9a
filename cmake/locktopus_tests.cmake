# How the tree declares its tests (included by the top-level CMakeLists.txt).
include(GoogleTest)

# locktopus_gtest(NAME SOURCES file... LIBRARIES lib... [SERVER] [DRIVER]
#                 [SINGLE_THREADED] [TIMEOUT seconds]): a GoogleTest program,
# its tests found when CTest runs. SERVER: it starts this build's server,
# whose path it gets as LOCKTOPUS_BIN (and which is built first).
# DRIVER: its own code only drives the code under test, which lives in the
# libraries it links (through their API, sockets, processes or canned
# input): it compiles at -O0 in every preset, since what it finds does not
# depend on its own speed, and its Beast, GoogleTest and RapidCheck
# instantiations compile two to three times faster; and its files compile as
# one unit (a unity build), since at -O0 most of a test file's compile time
# is parsing the headers it shares with the others. Not drivers: the
# property test (its generators are half its run time), a test that
# compiles its code under test in itself, the heap accounting test.
# SINGLE_THREADED: all it tests runs on one thread, so the tsan preset
# leaves it out.
# locktopus_test_driver(target): compiled as DRIVER says.
function(locktopus_test_driver target)
  target_compile_options(${target} PRIVATE -O0)
  set_target_properties(${target} PROPERTIES UNITY_BUILD ON
                        UNITY_BUILD_BATCH_SIZE 0)
endfunction()

function(locktopus_gtest name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "SERVER;DRIVER;SINGLE_THREADED" "TIMEOUT"
                        "SOURCES;LIBRARIES")
  # ThreadSanitizer finds races between threads: a test of code that runs
  # on one thread only is neither built nor run under it.
  if(arg_SINGLE_THREADED AND LOCKTOPUS_SANITIZE MATCHES "thread")
    return()
  endif()
  add_executable(${name} ${arg_SOURCES})
  target_link_libraries(${name} ${arg_LIBRARIES})
  if(arg_DRIVER)
    locktopus_test_driver(${name})
  endif()
  if(arg_SERVER)
    target_compile_definitions(${name} PRIVATE
                               LOCKTOPUS_BIN="$<TARGET_FILE:locktopus>")
    add_dependencies(${name} locktopus)
  endif()
  if(arg_TIMEOUT)
    gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST
                         PROPERTIES TIMEOUT ${arg_TIMEOUT})
  else()
    gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST)
  endif()
endfunction()

# locktopus_node_test(NAME LABEL label TIMEOUT seconds COMMAND ...
#                     [PROPERTIES ...]): a test run by node (or a script that
# runs node) against this build's server, with its label, its timeout and
# any further test properties.
function(locktopus_node_test name)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "LABEL;TIMEOUT" "COMMAND;PROPERTIES")
  add_test(NAME ${name} COMMAND ${arg_COMMAND})
  set_tests_properties(${name} PROPERTIES LABELS ${arg_LABEL}
                       TIMEOUT ${arg_TIMEOUT} ${arg_PROPERTIES})
endfunction()
