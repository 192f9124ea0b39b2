# package.cmake: the Debian packages, built from the tree by `cpack -G DEB` in a build
# directory configured with -DCMAKE_INSTALL_PREFIX=/usr (ops/README.md, "Installing").
#   kmsha        kmsd, kmsctl, the unit, sysusers/tmpfiles/logrotate entries, man pages,
#                bash completion, the guide and the examples
#   kmsha-bench  kmsbench, kmsbench-disk (load and disk tests) and the floor server
# The version is project(VERSION) in CMakeLists.txt; library dependencies come from
# dpkg-shlibdeps (dpkg-dev), so they name the Debian library packages actually linked.
set(CPACK_PACKAGE_NAME kmsha)
set(CPACK_PACKAGE_VENDOR "kmsha developers")
set(CPACK_PACKAGE_CONTACT "kmsha developers <kmsha@example.edu>")
# Each package's description is its synopsis line followed by the extended text (CMake's
# per-component summary workaround: the global summary is ignored).
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY IGNORE)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_GENERATOR DEB)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL main bench)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_MAIN_PACKAGE_NAME kmsha)
set(CPACK_DEBIAN_MAIN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_MAIN_DESCRIPTION "clustered KMS activation host for Windows and Office
kmsha answers Windows and Office volume activation (KMS,
DCE/RPC on TCP 1688, protocol versions 4, 5 and 6) like Microsoft's KMS host.
Several nodes form a cluster that shares one client count: records replicate
over CURVE-authenticated ZeroMQ into each node's LMDB store, each live node
publishes its own _vlmcs._tcp SRV record by TSIG-signed dynamic DNS updates,
and a rebuilt node catches up by itself. kmsctl is the administration tool.")
set(CPACK_DEBIAN_MAIN_PACKAGE_DEPENDS "systemd | systemd-sysusers")
set(CPACK_DEBIAN_MAIN_PACKAGE_RECOMMENDS "logrotate")
set(CPACK_DEBIAN_MAIN_PACKAGE_CONTROL_EXTRA
  ${CMAKE_SOURCE_DIR}/ops/debian/postinst ${CMAKE_SOURCE_DIR}/ops/debian/prerm
  ${CMAKE_SOURCE_DIR}/ops/debian/postrm ${CMAKE_SOURCE_DIR}/ops/debian/conffiles)
set(CPACK_DEBIAN_MAIN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
set(CPACK_DEBIAN_BENCH_PACKAGE_NAME kmsha-bench)
set(CPACK_DEBIAN_BENCH_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_BENCH_PACKAGE_SECTION net)
set(CPACK_DEBIAN_BENCH_DESCRIPTION "load and disk tests for kmsha KMS hosts
kmsbench drives real KMS activations against one host or a whole cluster
found by its SRV records and verifies every answer; kmsbench-disk measures
what a disk allows a durable group commit. The floor server, a canned-bytes
KMS responder used as a yardstick, is installed under /usr/lib/kmsha.")
set(CPACK_DEBIAN_BENCH_PACKAGE_DEPENDS "kmsha (= ${PROJECT_VERSION})")
set(CPACK_COMPONENT_MAIN_DISPLAY_NAME kmsha)
set(CPACK_COMPONENT_BENCH_DISPLAY_NAME kmsha-bench)
set(CPACK_PACKAGE_FILE_NAME kmsha_${PROJECT_VERSION})

# Debian wants a copyright file and a changelog in every package's doc directory (a native
# package: the version has no Debian revision, so the changelog is changelog.gz).
foreach(comp main bench)
  if(comp STREQUAL "main")
    set(pkg kmsha)
  else()
    set(pkg kmsha-bench)
  endif()
  install(FILES ${CMAKE_SOURCE_DIR}/ops/debian/copyright
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${pkg} COMPONENT ${comp})
  add_custom_command(OUTPUT ${CMAKE_BINARY_DIR}/ops/${pkg}/changelog.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${CMAKE_BINARY_DIR}/ops/${pkg}
    COMMAND sh -c "sed -e 's/@PACKAGE@/${pkg}/' -e 's/@VERSION@/${PROJECT_VERSION}/' '${CMAKE_SOURCE_DIR}/ops/debian/changelog' | gzip -9n > '${CMAKE_BINARY_DIR}/ops/${pkg}/changelog.gz'"
    DEPENDS ${CMAKE_SOURCE_DIR}/ops/debian/changelog VERBATIM)
  add_custom_target(changelog-${pkg} ALL DEPENDS ${CMAKE_BINARY_DIR}/ops/${pkg}/changelog.gz)
  install(FILES ${CMAKE_BINARY_DIR}/ops/${pkg}/changelog.gz
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${pkg} COMPONENT ${comp})
endforeach()

include(CPack)
