# preload/slabmalloc-run.cmake - configures the wrapper preload/slabmalloc-run
# twice: ${PROJECT_BINARY_DIR}/slabmalloc-run, next to libslabmalloc.so, and
# the copy `cmake --install` puts into bin/, which finds the library in the
# install's lib directory relative to itself.  Both carry the project version
# and the list of SLABMALLOC_* options for --help: the names from the option
# table the library parses (src/env.c), each with its range, default and the
# first clause of its meaning from the options table of docs/usage.md (what
# tests/lint/check_docs.py keeps in step with the code).
# Included from the top-level CMakeLists.txt.

set(sm_env_c ${PROJECT_SOURCE_DIR}/src/env.c)
set(sm_usage_md ${PROJECT_SOURCE_DIR}/docs/usage.md)
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${sm_env_c} ${sm_usage_md})

file(READ ${sm_env_c} sm_text)
string(REGEX MATCHALL "OPT\\(\"[A-Z0-9_]+\"" sm_opts "${sm_text}")
if(NOT sm_opts)
  message(WARNING "slabmalloc-run: no OPT(\"NAME\", ...) entries found in src/env.c: --help lists no options")
endif()

# docs/usage.md as a list of lines.  ';' and brackets would split or glue list
# elements, so they travel as placeholders until the text is written.
file(READ ${sm_usage_md} sm_text)
string(REPLACE ";" "<sm-semi>" sm_text "${sm_text}")
string(REPLACE "[" "<sm-open>" sm_text "${sm_text}")
string(REPLACE "]" "<sm-close>" sm_text "${sm_text}")
string(REPLACE "\n" ";" sm_lines "${sm_text}")

set(sm_help "SLABMALLOC_* options (range, default: meaning):")
foreach(opt ${sm_opts})
  string(REGEX REPLACE "^OPT\\(\"([A-Z0-9_]+)\"$" "SLABMALLOC_\\1" name "${opt}")
  set(line "")
  foreach(row ${sm_lines})
    if(row MATCHES "^\\| *`${name}` *\\| *([^|]*[^ |]) *\\| *([^|]*[^ |]) *\\| *(.*[^ ]) *\\| *$")
      set(def "${CMAKE_MATCH_1}")
      set(range "${CMAKE_MATCH_2}")
      set(meaning "${CMAKE_MATCH_3}")
      # the first clause, without markdown: `code` and <sm-open>text<sm-close>(link)
      string(REGEX REPLACE "<sm-semi>.*" "" meaning "${meaning}")
      string(REGEX REPLACE "<sm-open>([^<]*)<sm-close>\\([^)]*\\)" "\\1" meaning "${meaning}")
      set(line "${range}, default ${def}: ${meaning}")
      string(REPLACE "`" "" line "${line}")
      string(REPLACE "<sm-open>" "[" line "${line}")
      string(REPLACE "<sm-close>" "]" line "${line}")
      string(REPLACE "<sm-semi>" ";" line "${line}")
      break()
    endif()
  endforeach()
  if(NOT line)
    set(line "(not described in docs/usage.md)")
  endif()
  string(LENGTH "${name}" len)
  set(pad "")
  while(len LESS 28)
    string(APPEND pad " ")
    math(EXPR len "${len} + 1")
  endwhile()
  string(APPEND sm_help "\n  ${name}${pad} ${line}")
endforeach()
set(SM_RUN_OPTIONS_HELP "${sm_help}")

# In the build tree: the library is in the same directory.
set(SM_RUN_LIBDIR ".")
configure_file(${PROJECT_SOURCE_DIR}/preload/slabmalloc-run ${PROJECT_BINARY_DIR}/slabmalloc-run @ONLY)

# Installed: the library directory relative to bin/ (so the prefix can move),
# or the library directory itself if it was given as an absolute path.
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(SM_RUN_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  file(RELATIVE_PATH SM_RUN_LIBDIR /${CMAKE_INSTALL_BINDIR} /${CMAKE_INSTALL_LIBDIR})
endif()
configure_file(${PROJECT_SOURCE_DIR}/preload/slabmalloc-run
  ${PROJECT_BINARY_DIR}/install-run/slabmalloc-run @ONLY)
install(PROGRAMS ${PROJECT_BINARY_DIR}/install-run/slabmalloc-run DESTINATION ${CMAKE_INSTALL_BINDIR})
