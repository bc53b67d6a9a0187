# Install rules: headers, the library (static or shared), the CLI, a CMake package
# (find_package(convkit 0.2 CONFIG REQUIRED) -> convkit::convkit) and convkit.pc.
include(CMakePackageConfigHelpers)

set(CONVKIT_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/convkit)

install(TARGETS convkit EXPORT convkitTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY include/convkit DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
if(CONVKIT_BUILD_TOOLS)
  install(TARGETS convkit_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(FILES bench/shapes.csv DESTINATION ${CMAKE_INSTALL_DATADIR}/convkit)  # convkit bench's default
endif()

install(EXPORT convkitTargets NAMESPACE convkit:: DESTINATION ${CONVKIT_CMAKE_DIR})
configure_package_config_file(cmake/convkitConfig.cmake.in ${PROJECT_BINARY_DIR}/convkitConfig.cmake
                              INSTALL_DESTINATION ${CONVKIT_CMAKE_DIR})
# 0.x: a minor release may break the API (README, Versioning), so 0.2 accepts 0.2.* only.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/convkitConfigVersion.cmake COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/convkitConfig.cmake ${PROJECT_BINARY_DIR}/convkitConfigVersion.cmake
        DESTINATION ${CONVKIT_CMAKE_DIR})

# pkg-config: a static libconvkit.a needs the OpenMP runtime on the consumer's link line; a
# shared libconvkit.so records it itself (Libs.private, for `pkg-config --static`).
if(BUILD_SHARED_LIBS)
  set(CONVKIT_PC_LIBS "-lconvkit")
  set(CONVKIT_PC_LIBS_PRIVATE "${OpenMP_CXX_FLAGS}")
else()
  set(CONVKIT_PC_LIBS "-lconvkit ${OpenMP_CXX_FLAGS}")
  set(CONVKIT_PC_LIBS_PRIVATE "")
endif()
# prefix relative to the .pc file (relocatable); absolute install dirs are written as given.
file(RELATIVE_PATH CONVKIT_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
set(CONVKIT_PC_PREFIX "\${pcfiledir}/${CONVKIT_PC_TO_PREFIX}")
set(CONVKIT_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
set(CONVKIT_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}" OR IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(CONVKIT_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(CONVKIT_PC_LIBDIR "${CMAKE_INSTALL_FULL_LIBDIR}")
  set(CONVKIT_PC_INCLUDEDIR "${CMAKE_INSTALL_FULL_INCLUDEDIR}")
endif()
configure_file(cmake/convkit.pc.in ${PROJECT_BINARY_DIR}/convkit.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/convkit.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# A Debian package of this build (cpack -G DEB in the build directory): the library, headers,
# CMake and pkg-config files, and the CLI when it is built; installed under /usr.
set(CPACK_PACKAGE_NAME convkit)
set(CPACK_PACKAGE_VENDOR "convkit")
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Convolution layers with PyTorch's semantics for CPUs (C++ library and CLI)")
set(CPACK_PACKAGE_CONTACT "convkit developers <convkit@localhost>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)  # (RelWithDebInfo binaries are ~10x larger with their debug info)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)  # the runtime libraries it needs (dpkg-shlibdeps)
set(CPACK_GENERATOR DEB)
include(CPack)
