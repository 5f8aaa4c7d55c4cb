# banger_add_capability(<name> SOURCES <src>... [OUTPUT_DIRECTORY <dir>] [NO_INSTALL])
#
# Builds <name>.so, a banger capability: a MODULE library with hidden
# visibility whose only exported symbol is banger_capability_entry (enforced
# with a linker version script), linked against the SDK headers only.
set(_BANGER_SDK_CMAKE_DIR "${CMAKE_CURRENT_LIST_DIR}")

function(banger_add_capability name)
  cmake_parse_arguments(ARG "NO_INSTALL" "OUTPUT_DIRECTORY" "SOURCES" ${ARGN})
  if(NOT ARG_SOURCES)
    message(FATAL_ERROR "banger_add_capability(${name}): SOURCES is required")
  endif()
  add_library(${name} MODULE ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE banger::sdk)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    OUTPUT_NAME ${name}
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
    POSITION_INDEPENDENT_CODE ON)
  target_compile_features(${name} PRIVATE cxx_std_20)
  target_link_options(${name} PRIVATE
    "-Wl,--version-script=${_BANGER_SDK_CMAKE_DIR}/capability.map" "-Wl,-z,now")
  # Every symbol resolved at link time, except in sanitizer builds: there
  # the sanitizer's runtime comes with the agent that loads the capability.
  if(NOT BANGER_CAPABILITY_ALLOW_UNDEFINED)
    target_link_options(${name} PRIVATE "-Wl,-z,defs")
  endif()
  set_property(TARGET ${name} APPEND PROPERTY LINK_DEPENDS "${_BANGER_SDK_CMAKE_DIR}/capability.map")
  if(ARG_OUTPUT_DIRECTORY)
    set_target_properties(${name} PROPERTIES LIBRARY_OUTPUT_DIRECTORY ${ARG_OUTPUT_DIRECTORY})
  endif()
  if(NOT ARG_NO_INSTALL AND DEFINED BANGER_PLUGIN_INSTALL_DIR)
    install(TARGETS ${name} LIBRARY DESTINATION ${BANGER_PLUGIN_INSTALL_DIR})
  endif()
endfunction()
