# bench/gateway.sh: the gateway beside nginx, HAProxy and Caddy (docs/PERFORMANCE.md "Gateway").
# `cmake --build <dir> --target bench_gateway` builds the PEM-file driver and runs the script;
# DURATION, REPS, CONNS and PROXIES in the environment tune it. Not a test.
if(TARGET gateway_tls_driver)
  add_custom_target(bench_gateway
    COMMAND ${CMAKE_CURRENT_SOURCE_DIR}/gateway.sh $<TARGET_FILE:gateway_tls_driver>
    DEPENDS gateway_tls_driver
    USES_TERMINAL)
endif()
