# Debian packages (cpack -G DEB, from a build configured with
# -DCMAKE_INSTALL_PREFIX=/usr; tools/dev/package.sh does both):
#   banger      the agent, bangerctl, banger-vmm-log, the guest agent, the
#               capabilities, /etc/banger/bangerd.conf (a conffile), the
#               systemd unit, man pages, bash completion, docs
#   banger-dev  the SDK: headers, CMake package, pkg-config file, examples
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME banger)
set(CPACK_PACKAGE_VENDOR "banger")
set(CPACK_PACKAGE_CONTACT "banger maintainers <banger@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "host agent for Firecracker microVMs")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL Unspecified sdk)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_STRIP_FILES ON)  # the debug info stays in the build

set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_NAME banger)
set(CPACK_DEBIAN_UNSPECIFIED_DESCRIPTION
    "host agent for Firecracker microVMs\n bangerd runs Firecracker microVMs on one Linux host; TAP devices, NAT,\n port forwarding, stats, guest health and idle reaping are capabilities\n loaded through a stable C ABI. bangerctl is the admin tool.")
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_RECOMMENDS "nftables")
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)
set(CPACK_DEBIAN_UNSPECIFIED_PACKAGE_CONTROL_STRICT_PERMISSION ON)

set(CPACK_DEBIAN_SDK_PACKAGE_NAME banger-dev)
set(CPACK_DEBIAN_SDK_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_SDK_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_SDK_DESCRIPTION
    "SDK for banger capabilities\n The C ABI header, the C++ helper and fake host for unit tests, a CMake\n package, a pkg-config file and examples, to build capabilities for bangerd.")
include(CPack)
