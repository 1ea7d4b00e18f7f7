# bench_smime: S/MIME sign+postmark+encrypt and decrypt+verify beside OpenSSL (API and `openssl cms`).
if(TARGET autoseal_smime)
  add_executable(bench_smime ${CMAKE_CURRENT_LIST_DIR}/smime_bench.cc)
  target_compile_options(bench_smime PRIVATE ${AUTOSEAL_WARNINGS})
  target_link_libraries(bench_smime PRIVATE autoseal_smime autoseal_tsa autoseal_x509 OpenSSL::Crypto)
endif()
