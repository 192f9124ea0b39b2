/* config_validate.c: the checks across settings after loading (config_validate): what
 * no single value shows, e.g. the intervals' order, peers' keys and ports, and what DNS
 * publishing needs. kmsd --check-config runs them, so a start never fails on them. */
#include "node/config_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "proto/errors.h"

int config_validate(const kmsd_config *cfg, char *err, size_t errlen)
{
    const char *problem;
    if (!cfg) {
        config_put(err, errlen, "no configuration");
        return KMS_ECONFIG;
    }
    char id[sizeof cfg->node_id + 1];
    memcpy(id, cfg->node_id, sizeof cfg->node_id);
    id[sizeof cfg->node_id] = 0;
    if ((problem = config_check_node_id(id))) {
        config_put(err, errlen, "[node] id: '%.64s' %s", id, problem);
        return KMS_ECONFIG;
    }
    if (cfg->n_listen < 1 || cfg->n_listen > CONFIG_MAX_LISTEN) {
        config_put(err, errlen, "[node] listen: at least one listen address is needed");
        return KMS_ECONFIG;
    }
    for (int i = 0; i < cfg->n_listen; i++) {
        for (int j = 0; j < i; j++) {
            if (cfg->listen[i].port == cfg->listen[j].port &&
                strcmp(cfg->listen[i].host, cfg->listen[j].host) == 0) {
                config_put(err, errlen, "[node] listen: %s port %u is listed twice",
                    cfg->listen[i].host, cfg->listen[i].port);
                return KMS_ECONFIG;
            }
        }
    }
    if (!cfg->data_dir[0]) {
        config_put(err, errlen, "[node] data_dir: must not be empty");
        return KMS_ECONFIG;
    }
    if (config_parse_enum(cfg->log_level, "debug|info|warn|error", NULL, 0) != 0) {
        config_put(err, errlen, "[node] log_level: '%.15s' is not one of debug|info|warn|error",
            cfg->log_level);
        return KMS_ECONFIG;
    }
    if (cfg->activation_interval < 15 || cfg->activation_interval > 43200 ||
        cfg->renewal_interval < 15 || cfg->renewal_interval > 43200) {
        config_put(err, errlen, "[kms] activation_interval / renewal_interval: must be within 15..43200 minutes");
        return KMS_ECONFIG;
    }
    if (cfg->activation_interval > cfg->renewal_interval) {
        config_put(err, errlen, "[kms] activation_interval: %u minutes is longer than renewal_interval (%u): "
            "unactivated clients would retry less often than activated ones renew",
            cfg->activation_interval, cfg->renewal_interval);
        return KMS_ECONFIG;
    }
    if ((uint64_t)cfg->renewal_interval > (uint64_t)cfg->client_lifetime_days * 1440) {
        config_put(err, errlen, "[kms] renewal_interval: %u minutes is longer than client_lifetime_days "
            "(%u days): clients would drop out of the count before they renew",
            cfg->renewal_interval, cfg->client_lifetime_days);
        return KMS_ECONFIG;
    }
    if (cfg->n_allow < 0 || cfg->n_allow > CONFIG_MAX_ALLOW || cfg->n_allow_clients < 0 ||
        cfg->n_allow_clients > CONFIG_MAX_CIDRS) {
        config_put(err, errlen, "[kms] allow_products / [limits] allow_clients: bad entry count");
        return KMS_ECONFIG;
    }
    for (int g = 0; g < KMS_GROUP_COUNT; g++) {
        if (strnlen(cfg->epid[g], sizeof cfg->epid[g]) == sizeof cfg->epid[g] ||
            products_epid_validate(cfg->epid[g]) != 0) {
            config_put(err, errlen, "[kms] epid_%s: not a valid ePID",
                products_group_slug((kms_epid_group)g));
            return KMS_ECONFIG;
        }
    }
    if (cfg->n_peers > 0) {
        if (!config_find_peer(cfg, id)) {
            config_put(err, errlen, "[node] id: '%s' is not one of the [peer.ID] sections of the cluster", id);
            return KMS_ECONFIG;
        }
        int with_keys = 0;
        for (int i = 0; i < cfg->n_peers; i++) {
            const config_peer *p = &cfg->peers[i];
            if (p->replication.port == 0) {
                config_put(err, errlen, "[peer.%s] replication: missing (HOST:PORT)", p->id);
                return KMS_ECONFIG;
            }
            with_keys += p->public_key[0] != 0;
            for (int j = 0; j < i; j++)
                if (!strcmp(p->replication.host, cfg->peers[j].replication.host) &&
                    (p->replication.port == cfg->peers[j].replication.port ||
                     p->replication.port + 1 == cfg->peers[j].replication.port ||
                     p->replication.port == cfg->peers[j].replication.port + 1)) {
                    config_put(err, errlen, "[peer.%s] replication: ports overlap [peer.%s] (each uses PORT and PORT+1)",
                        p->id, cfg->peers[j].id);
                    return KMS_ECONFIG;
                }
        }
        /* Replication is always CURVE: there is no plaintext mode to fall back to. */
        if (with_keys != cfg->n_peers) {
            for (int i = 0; i < cfg->n_peers; i++)
                if (!cfg->peers[i].public_key[0]) {
                    config_put(err, errlen, "[peer.%s] public_key: missing; replication is always authenticated: "
                        "make each node's key pair with kmsctl keygen and list every public key", cfg->peers[i].id);
                    return KMS_ECONFIG;
                }
        }
        if (!cfg->key_dir[0]) {
            config_put(err, errlen, "[cluster] key_dir: needed with [peer.ID] sections (this node's secret key "
                "KEY_DIR/%s.key, kmsctl keygen)", id);
            return KMS_ECONFIG;
        }
        if (cfg->dead_after_ms < 2 * cfg->heartbeat_interval_ms) {
            config_put(err, errlen, "[cluster] dead_after_ms: %u is less than two heartbeat intervals (%u ms)",
                cfg->dead_after_ms, cfg->heartbeat_interval_ms);
            return KMS_ECONFIG;
        }
    }
    if (cfg->dns_server[0]) {
        config_dns_zone zones[CONFIG_MAX_DNS_ZONES];
        int nz = 0;
        if ((problem = config_check_dns_server(cfg->dns_server))) {
            config_put(err, errlen, "[dns] server: '%.64s' %s", cfg->dns_server, problem);
            return KMS_ECONFIG;
        }
        if ((problem = config_parse_dns_zones(cfg->dns_zones, zones, CONFIG_MAX_DNS_ZONES, &nz)) || nz == 0) {
            config_put(err, errlen, "[dns] zones: %s", problem ? problem : "at least one zone is needed when server is set");
            return KMS_ECONFIG;
        }
        if (!cfg->dns_tsig_key_file[0]) {
            config_put(err, errlen, "[dns] tsig_key_file: needed when server is set (updates are signed)");
            return KMS_ECONFIG;
        }
        for (int i = 0; i < cfg->n_peers; i++) {
            const config_peer *p = &cfg->peers[i];
            for (int k = 0; k < p->n_kms; k++) {
                const config_addr *a = &p->kms_addrs[k];
                struct in6_addr lit;
                bool literal = inet_pton(AF_INET, a->host, &lit) == 1 || inet_pton(AF_INET6, a->host, &lit) == 1;
                if (a->port != p->kms.port) {
                    config_put(err, errlen, "[peer.%s] kms: %s takes port %u, %s port %u: the SRV record has one port, "
                        "so every address of a node takes the same", p->id, p->kms.host, p->kms.port, a->host, a->port);
                    return KMS_ECONFIG;
                }
                if (p->target[0]) continue;
                if (!strcmp(a->host, "0.0.0.0") || !strcmp(a->host, "::")) {
                    config_put(err, errlen, "[peer.%s] target: needed for DNS publishing, since kms is a wildcard address", p->id);
                    return KMS_ECONFIG;
                }
                if (!literal && p->n_kms > 1) {
                    config_put(err, errlen, "[peer.%s] target: needed for DNS publishing, since kms lists a host name (%s) "
                        "among several addresses", p->id, a->host);
                    return KMS_ECONFIG;
                }
            }
        }
    }
    return 0;
}
