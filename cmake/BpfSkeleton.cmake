# Compiles bpf/*.bpf.c into BPF objects and libbpf skeleton headers.
#
#   bpf_skeleton(<name> <source.bpf.c>)
#
# creates the INTERFACE target <name>_skel whose include directory holds <name>.skel.h.
# vmlinux.h is generated at build time from the running kernel's BTF (CO-RE relocates
# field offsets at load time, so the object still runs on other kernels with BTF).

find_program(BPF_CLANG NAMES clang clang-19 clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)
set(SSLC_VMLINUX_BTF /sys/kernel/btf/vmlinux CACHE FILEPATH "BTF used to generate vmlinux.h")

set(BPF_GEN_DIR ${CMAKE_BINARY_DIR}/bpf-gen)
file(MAKE_DIRECTORY ${BPF_GEN_DIR})

if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64")
	set(BPF_TARGET_ARCH x86)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "aarch64|arm64")
	set(BPF_TARGET_ARCH arm64)
else()
	message(FATAL_ERROR "unsupported architecture for BPF: ${CMAKE_SYSTEM_PROCESSOR}")
endif()

add_custom_command(
	OUTPUT ${BPF_GEN_DIR}/vmlinux.h
	COMMAND ${BPFTOOL} btf dump file ${SSLC_VMLINUX_BTF} format c > ${BPF_GEN_DIR}/vmlinux.h.tmp
	COMMAND ${CMAKE_COMMAND} -E rename ${BPF_GEN_DIR}/vmlinux.h.tmp ${BPF_GEN_DIR}/vmlinux.h
	DEPENDS ${SSLC_VMLINUX_BTF}
	COMMENT "Generating vmlinux.h from ${SSLC_VMLINUX_BTF}"
	VERBATIM)
add_custom_target(vmlinux_h DEPENDS ${BPF_GEN_DIR}/vmlinux.h)

function(bpf_skeleton name src)
	get_filename_component(src_abs ${src} ABSOLUTE)
	set(obj ${BPF_GEN_DIR}/${name}.bpf.o)
	set(linked ${BPF_GEN_DIR}/${name}.linked.bpf.o)
	set(skel ${BPF_GEN_DIR}/${name}.skel.h)
	add_custom_command(
		OUTPUT ${obj}
		COMMAND ${BPF_CLANG} -target bpf -mcpu=v3 -g -O2 -Wall -Werror
			-D__TARGET_ARCH_${BPF_TARGET_ARCH}
			-I${BPF_GEN_DIR} -I${CMAKE_SOURCE_DIR}/include -I${CMAKE_SOURCE_DIR}/bpf
			-MD -MF ${obj}.d
			-c ${src_abs} -o ${obj}
		DEPENDS ${src_abs} vmlinux_h
		DEPFILE ${obj}.d
		COMMENT "Compiling BPF object ${name}.bpf.o"
		VERBATIM)
	add_custom_command(
		OUTPUT ${skel}
		COMMAND ${BPFTOOL} gen object ${linked} ${obj}
		COMMAND ${BPFTOOL} gen skeleton ${linked} name ${name} > ${skel}.tmp
		COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
		DEPENDS ${obj}
		COMMENT "Generating BPF skeleton ${name}.skel.h"
		VERBATIM)
	add_custom_target(${name}_skel_gen DEPENDS ${skel})
	add_library(${name}_skel INTERFACE)
	add_dependencies(${name}_skel ${name}_skel_gen)
	target_include_directories(${name}_skel INTERFACE ${BPF_GEN_DIR})
	target_link_libraries(${name}_skel INTERFACE PkgConfig::LIBBPF)
endfunction()
