# Gateway interop scripts. The listener/TLS scripts drive a small driver that serves certificates
# from PEM files (tests/gateway/tls_driver.cc), so they need no CA; bench/gateway.sh uses it too.
add_executable(gateway_tls_driver ${PROJECT_SOURCE_DIR}/tests/gateway/tls_driver.cc)
target_compile_options(gateway_tls_driver PRIVATE ${AUTOSEAL_WARNINGS})
target_link_libraries(gateway_tls_driver PRIVATE autoseal_gateway autoseal_core OpenSSL::Crypto)

autoseal_interop(gateway_tls gateway_tls.sh)
set_property(TEST interop.gateway_tls APPEND PROPERTY ENVIRONMENT
             "GATEWAY_DRIVER=$<TARGET_FILE:gateway_tls_driver>")

# Certificate automation end to end: origin + autoseal ca serve (or Pebble) + autoseal gateway.
autoseal_interop(gateway_e2e gateway_e2e.sh)
autoseal_interop(gateway_pebble gateway_pebble.sh)
