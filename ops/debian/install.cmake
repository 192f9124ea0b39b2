# install.cmake: what `cmake --install` and the Debian package put where. Included from the
# top CMakeLists.txt. Paths follow Debian's layout when the prefix is /usr (the package):
# programs in bin, the unit in /lib/systemd/system, sysusers and tmpfiles entries in
# lib/sysusers.d and lib/tmpfiles.d (where systemd reads them; never the multiarch libdir),
# the logrotate file in /etc/logrotate.d, man pages, bash completion, and the examples
# (configurations, BIND, Prometheus, systemd drop-in) under share/doc/kmsha/examples.
include(GNUInstallDirs)
set(KMSHA_SYSTEMD_UNITDIR "lib/systemd/system" CACHE PATH
  "where the systemd unit is installed (under the prefix unless absolute)")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(KMSHA_UNIT_DEST /${KMSHA_SYSTEMD_UNITDIR})
else()
  set(KMSHA_UNIT_DEST ${KMSHA_SYSTEMD_UNITDIR})
endif()
set(KMSHA_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
set(KMSHA_DOCDIR ${CMAKE_INSTALL_FULL_DATAROOTDIR}/doc/kmsha)

install(TARGETS kmsd kmsctl RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT main)

configure_file(${CMAKE_SOURCE_DIR}/ops/systemd/kmsd@.service ${CMAKE_BINARY_DIR}/ops/kmsd@.service @ONLY)
install(FILES ${CMAKE_BINARY_DIR}/ops/kmsd@.service DESTINATION ${KMSHA_UNIT_DEST} COMPONENT main)
install(FILES ops/systemd/kmsha.conf DESTINATION lib/sysusers.d COMPONENT main)
install(FILES ops/systemd/kmsha-tmpfiles.conf DESTINATION lib/tmpfiles.d RENAME kmsha.conf COMPONENT main)
install(FILES ops/logrotate/kmsha DESTINATION /etc/logrotate.d COMPONENT main)
install(FILES ops/completion/kmsctl DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/bash-completion/completions COMPONENT main)

# Man pages: kmsd(8) and kmsctl(8) are written by hand; kmsha.ini(5) is generated from the
# settings table (`kmsd --config-reference`) at build time, so it is always current. Each is
# installed gzipped (-9n, reproducible), as Debian wants.
set(KMSHA_MAN_OUT ${CMAKE_BINARY_DIR}/man)
add_custom_command(OUTPUT ${KMSHA_MAN_OUT}/kmsha.ini.5
  COMMAND ${CMAKE_COMMAND} -E make_directory ${KMSHA_MAN_OUT}
  COMMAND $<TARGET_FILE:kmsd> --config-reference > ${KMSHA_MAN_OUT}/config-reference.md
  COMMAND python3 ${CMAKE_SOURCE_DIR}/ops/man/ini-man.py ${PROJECT_VERSION}
          ${KMSHA_MAN_OUT}/config-reference.md ${CMAKE_SOURCE_DIR}/ops/man/kmsha.ini.5.in
          ${KMSHA_MAN_OUT}/kmsha.ini.5
  DEPENDS kmsd ${CMAKE_SOURCE_DIR}/ops/man/ini-man.py ${CMAKE_SOURCE_DIR}/ops/man/kmsha.ini.5.in
  VERBATIM)
# The pages are built into build/man/manN/ (a MANPATH: `man -M build/man kmsd`).
set(KMSHA_MAN_GZ)
foreach(page kmsd.8 kmsctl.8 kmsbench.8 kmsbench-disk.8 kmsha.ini.5)
  if(page STREQUAL "kmsha.ini.5")
    set(src ${KMSHA_MAN_OUT}/${page})
  else()
    set(src ${CMAKE_SOURCE_DIR}/ops/man/${page})
  endif()
  string(REGEX REPLACE ".*\\.([0-9])$" "\\1" sec ${page})
  set(gz ${KMSHA_MAN_OUT}/man${sec}/${page}.gz)
  add_custom_command(OUTPUT ${gz}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${KMSHA_MAN_OUT}/man${sec}
    COMMAND sh -c "sed 's/@VERSION@/${PROJECT_VERSION}/g' '${src}' | gzip -9n > '${gz}'"
    DEPENDS ${src} VERBATIM)
  list(APPEND KMSHA_MAN_GZ ${gz})
  if(page MATCHES "^kmsbench")
    install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${sec} COMPONENT bench)
  else()
    install(FILES ${gz} DESTINATION ${CMAKE_INSTALL_MANDIR}/man${sec} COMPONENT main)
  endif()
endforeach()
add_custom_target(manpages ALL DEPENDS ${KMSHA_MAN_GZ})

# Documentation: the guide and its neighbours keep their relative links inside the doc dir.
# The installed guide's links are rewritten to what is installed beside it.
file(READ ${CMAKE_SOURCE_DIR}/ops/README.md KMSHA_GUIDE)
string(REPLACE "](../README.md)" "](config-reference.md)" KMSHA_GUIDE "${KMSHA_GUIDE}")
string(REPLACE "[bench/README.md](../bench/README.md)" "`man kmsbench`" KMSHA_GUIDE "${KMSHA_GUIDE}")
string(REPLACE "](dns/" "](examples/dns/" KMSHA_GUIDE "${KMSHA_GUIDE}")
string(REPLACE "](prometheus/" "](examples/prometheus/" KMSHA_GUIDE "${KMSHA_GUIDE}")
string(REPLACE "](examples/examples/" "](examples/" KMSHA_GUIDE "${KMSHA_GUIDE}")
file(WRITE ${CMAKE_BINARY_DIR}/ops/README.md "${KMSHA_GUIDE}")
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/ops/README.md)
install(FILES ${CMAKE_BINARY_DIR}/ops/README.md DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/kmsha COMPONENT main)
install(FILES ${CMAKE_BINARY_DIR}/man/config-reference.md
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/kmsha COMPONENT main)
install(DIRECTORY ops/examples/ DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/kmsha/examples
  COMPONENT main FILES_MATCHING PATTERN "*.ini")
install(DIRECTORY ops/dns/ DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/kmsha/examples/dns COMPONENT main)
install(DIRECTORY ops/prometheus/ DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/kmsha/examples/prometheus COMPONENT main)
install(FILES ops/systemd/low-port.conf.example
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/kmsha/examples/systemd COMPONENT main)
