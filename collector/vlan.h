/* 802.1Q tagging of the frames an agent sends (--vlan-per-agent, --vlan): pure code. */
#ifndef SSLC_COLLECTOR_VLAN_H
#define SSLC_COLLECTOR_VLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define VLAN_TPID 0x8100

/* Copies frame into out (room for len + 4 bytes) with an outer 802.1Q tag carrying vid
 * (priority 0). A frame that already has an outer tag (TPID 0x8100 or 0x88a8) gets that tag
 * replaced: the collector's VLAN is what tells hosts apart, and the frame keeps its size, so
 * it still fits the MTU check the agent's frame passed. Returns the new length; frames shorter
 * than their Ethernet header are not tagged (0). */
size_t vlan_tag_frame(const uint8_t *frame, size_t len, uint16_t vid, uint8_t *out);

/* An IPv4 or IPv6 TCP packet (behind up to two 802.1Q/802.1ad tags), for --tcp-only: what
 * agents forge, and nothing that could talk to the IDS segment's hosts (ARP, router
 * advertisements, DHCP...). IPv6 extension headers are not followed: agents send none. */
bool vlan_frame_is_tcp(const uint8_t *frame, size_t len);

#endif
