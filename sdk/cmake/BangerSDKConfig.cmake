# Package configuration for the banger capability SDK:
#   find_package(BangerSDK 1.2 REQUIRED)   # the capability ABI it speaks
#   banger_add_capability(hello SOURCES hello.cc)
# banger_add_capability installs into the agent's plugin dir (as installed
# with this SDK; set BANGER_PLUGIN_INSTALL_DIR to choose another).
include("${CMAKE_CURRENT_LIST_DIR}/BangerSDKTargets.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/BangerSDKPaths.cmake")
include("${CMAKE_CURRENT_LIST_DIR}/BangerCapability.cmake")
