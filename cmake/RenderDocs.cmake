# Renders the manual pages and the bash completion from the programs
# themselves (cmake -P, at build time): bangerd.8 from bangerd's flags,
# bangerd.conf.5 from its [core] key table and the built capabilities' own
# key tables, bangerctl.8 and the completion from bangerctl's command table.
# -DBANGERD= -DBANGERCTL= -DPLUGINS= -DOUT=
file(MAKE_DIRECTORY ${OUT})
function(render output)
  execute_process(COMMAND ${ARGN} OUTPUT_FILE ${OUT}/${output} ERROR_VARIABLE err
                  RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "rendering ${output} failed (${rc}): ${err}")
  endif()
endfunction()
render(bangerd.8 ${BANGERD} --man bangerd.8)
render(bangerd.conf.5 ${BANGERD} --config /dev/null --plugin-dir ${PLUGINS} --man bangerd.conf.5)
render(bangerctl.8 ${BANGERCTL} --man)
render(bangerctl.bash-completion ${BANGERCTL} completion bash)
