/* Opening the outputs of either role (outputs.h). */
#include "outputs.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

int outputs_iface_mtu(const char *iface, char *err, size_t err_len)
{
	int m = iface_mtu(iface);

	if (m < 0)
		snprintf(err, err_len, "-o %s: cannot read its MTU: %s", iface, strerror(-m));
	return m;
}

int outputs_open(const struct outputs_config *cfg, struct outputs *set, char *err, size_t err_len)
{
	int ret;

	memset(set, 0, sizeof(*set));
	if (cfg->iface && cfg->iface[0]) {
		ret = output_packet_check_iface(cfg->iface, cfg->force_iface, err, err_len);
		if (ret)
			return ret;
		ret = output_packet_open(cfg->iface, &set->packet, err, err_len);
		if (ret)
			return ret;
		set->all[set->n++] = set->packet;
		if (cfg->iface_mtu_cap &&
		    (ret = output_packet_set_mtu(set->packet, cfg->iface_mtu_cap)) != 0) {
			snprintf(err, err_len, "-o %s: MTU %u: %s", cfg->iface, cfg->iface_mtu_cap,
				 strerror(-ret));
			outputs_close(set);
			return ret;
		}
		set->packet_one_by_one = output_packet_cuts(set->packet) == 0;
	}
	if (cfg->pcap_path) {
		ret = output_pcap_open(cfg->pcap_path, &cfg->rotation, &set->pcap, err, err_len);
		if (ret) {
			outputs_close(set);
			return ret;
		}
		set->all[set->n++] = set->pcap;
	}
	return 0;
}

void outputs_close(struct outputs *set)
{
	for (size_t i = 0; i < set->n; i++)
		output_close(set->all[i]);
	memset(set, 0, sizeof(*set));
}
