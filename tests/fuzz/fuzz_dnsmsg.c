/* fuzz_dnsmsg.c: libFuzzer target for proto/dnsmsg.c's parsers. The input is a DNS message
 * from the network (an UPDATE answer or a look-up answer): it is parsed, every RR is read,
 * and its TSIG is checked as a request and as a response; the same bytes are also read as a
 * BIND key file and as a name in text form. Invariants (abort on violation): offsets stay
 * inside the input, RRs tile the sections up to the TSIG, a forged MAC never verifies. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proto/dnsmsg.h"
#include "proto/errors.h"

static void require(int cond)
{
    if (!cond) abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t secret[32] = {0x50, 0xc8, 0x60, 0x56, 0x12, 0xa1, 0x33, 0x28};
    dnsmsg_key key;
    require(dnsmsg_key_set(&key, "kmsha-key", secret, sizeof secret) == 0);

    dnsmsg_info info;
    if (dnsmsg_parse(data, size, &info) == 0) {
        require(info.answer_off >= DNSMSG_HEADER_LEN && info.answer_off <= size);
        size_t pos = info.answer_off;
        unsigned total = (unsigned)info.ancount + info.nscount + info.arcount;
        dnsmsg_rr rr;
        for (unsigned i = 0; i < total; i++) {
            size_t before = pos;
            if (dnsmsg_read_rr(data, size, &pos, &rr) != 0) break;
            require(pos > before && pos <= size);
            require(strlen(rr.name) < sizeof rr.name && rr.name[strlen(rr.name) - 1] == '.');
            if (info.has_tsig && i + 1 == total) require(before == info.tsig_off);
        }
        if (info.has_tsig) {
            require(info.tsig_off < size && info.tsig_mac_off <= size);
            uint8_t mac[DNSMSG_MAC_LEN] = {0};
            /* made-up key: nothing an input says can make it verify */
            require(dnsmsg_tsig_verify(data, size, &info, &key, NULL, 0, info.tsig_time) != 0);
            require(dnsmsg_tsig_verify(data, size, &info, &key, mac, sizeof mac, info.tsig_time) != 0);
        }
    }

    /* the same bytes as a key file and as a name */
    const char *why = NULL;
    dnsmsg_key k2;
    if (dnsmsg_key_parse((const char *)data, size, &k2, &why) == 0) require(k2.secret_len > 0);
    else require(why != NULL);
    char text[300];
    size_t n = size < sizeof text - 1 ? size : sizeof text - 1;
    memcpy(text, data, n);
    text[n] = 0;
    uint8_t wire[DNSMSG_WIRE_NAME_MAX];
    int wl = dnsmsg_name_to_wire(text, wire);
    if (wl > 0) {
        char back[DNSMSG_NAME_TEXT_MAX];
        require(dnsmsg_name_to_text(wire, (size_t)wl, back, sizeof back) == 0);
        require(dnsmsg_name_equal(text, back));
    }
    return 0;
}
