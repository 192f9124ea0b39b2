/* dnsmsg.h: the DNS messages kmsha needs to publish its SRV records: RFC 2136 UPDATE
 * messages (zone, prerequisite and update sections) for SRV, A and AAAA records, TSIG
 * HMAC-SHA256 signing and verification (RFC 8945), a parser bounded by its input that
 * tolerates name compression, BIND key files, and the RFC 2782 order in which a client
 * tries SRV targets. Pure: no I/O, no globals, no allocation; OpenSSL for HMAC and base64.
 *
 * Names are passed as text ("_vlmcs._tcp.kms.example.edu", a trailing dot optional) and
 * returned absolute with a trailing dot; a label byte other than letters, digits, '-', '_'
 * and '*' is written as \DDD. Names compare case-insensitively (dnsmsg_name_equal). */
#ifndef KMSHA_DNSMSG_H
#define KMSHA_DNSMSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DNSMSG_HEADER_LEN 12
#define DNSMSG_WIRE_NAME_MAX 255   /* octets of a name in wire form */
#define DNSMSG_NAME_TEXT_MAX 1024  /* text of any wire name, escapes and NUL included */
#define DNSMSG_MAC_LEN 32          /* HMAC-SHA256 */
#define DNSMSG_SECRET_MAX 128      /* bytes of a TSIG secret */
#define DNSMSG_FUDGE 300           /* seconds of clock difference a TSIG tolerates */

enum dnsmsg_type {
    DNSMSG_T_A = 1,
    DNSMSG_T_NS = 2,
    DNSMSG_T_CNAME = 5,
    DNSMSG_T_SOA = 6,
    DNSMSG_T_AAAA = 28,
    DNSMSG_T_SRV = 33,
    DNSMSG_T_OPT = 41,
    DNSMSG_T_TSIG = 250,
    DNSMSG_T_ANY = 255,
};

enum dnsmsg_class { DNSMSG_C_IN = 1, DNSMSG_C_NONE = 254, DNSMSG_C_ANY = 255 };

enum dnsmsg_opcode { DNSMSG_OP_QUERY = 0, DNSMSG_OP_UPDATE = 5 };

/* Header RCODEs (4 bits) and the TSIG error codes (RFC 8945). */
enum dnsmsg_rcode {
    DNSMSG_NOERROR = 0,
    DNSMSG_FORMERR = 1,
    DNSMSG_SERVFAIL = 2,
    DNSMSG_NXDOMAIN = 3,
    DNSMSG_NOTIMP = 4,
    DNSMSG_REFUSED = 5,
    DNSMSG_YXDOMAIN = 6,
    DNSMSG_YXRRSET = 7,
    DNSMSG_NXRRSET = 8,
    DNSMSG_NOTAUTH = 9,
    DNSMSG_NOTZONE = 10,
    DNSMSG_BADSIG = 16,
    DNSMSG_BADKEY = 17,
    DNSMSG_BADTIME = 18,
    DNSMSG_BADTRUNC = 22,
};

/* "NOERROR", "REFUSED", "BADSIG", ...; "RCODE<n>" is not returned: unknown codes give
 * "UNKNOWN". Static, never NULL. */
const char *dnsmsg_rcode_name(int rcode);

/* One resource record. Decoded rdata for SRV (priority, weight, port, target), A (addr[0..4))
 * and AAAA (addr[0..16)); other types keep only rdlength. */
typedef struct dnsmsg_rr {
    char name[DNSMSG_NAME_TEXT_MAX];
    uint16_t type;
    uint16_t rclass;
    uint32_t ttl;
    uint16_t rdlength;
    uint16_t priority, weight, port;
    char target[DNSMSG_NAME_TEXT_MAX];
    uint8_t addr[16];
} dnsmsg_rr;

/* Fills rr for an SRV / A / AAAA record (class IN). addr: 4 or 16 bytes by type. Returns 0
 * or KMS_EINVAL (name or target too long). */
int dnsmsg_rr_srv(dnsmsg_rr *rr, const char *name, uint32_t ttl, uint16_t priority,
                  uint16_t weight, uint16_t port, const char *target);
int dnsmsg_rr_addr(dnsmsg_rr *rr, const char *name, uint32_t ttl, uint16_t type,
                   const uint8_t *addr);

/* ---- names --------------------------------------------------------------------------- */

/* Text -> uncompressed wire form (labels of at most 63 octets, at most 255 in all; "\."
 * and "\DDD" escapes). Returns the wire length or KMS_EINVAL. */
int dnsmsg_name_to_wire(const char *text, uint8_t wire[DNSMSG_WIRE_NAME_MAX]);
/* Wire -> text with a trailing dot. Returns 0 or KMS_EINVAL / KMS_ESPACE. */
int dnsmsg_name_to_text(const uint8_t *wire, size_t wire_len, char *out, size_t cap);
/* Case-insensitive equality of two text names (a trailing dot does not matter); false
 * when either is not a valid name. */
bool dnsmsg_name_equal(const char *a, const char *b);

/* ---- UPDATE messages (RFC 2136) ------------------------------------------------------- */

/* The builder writes into the caller's buffer; the first error sticks (u->err), so a caller
 * may add every record and check once in dnsmsg_update_finish. Sections must come in
 * order: prerequisites, then updates. */
typedef struct dnsmsg_update {
    uint8_t *buf;
    size_t cap, len;
    int section; /* 1 prerequisites, 2 updates */
    int err;
} dnsmsg_update;

/* RFC 2136 2.4 prerequisites. */
typedef enum dnsmsg_prereq {
    DNSMSG_PRE_RRSET_EXISTS,       /* rr->name, rr->type exist (any value): class ANY */
    DNSMSG_PRE_RRSET_EXISTS_VALUE, /* exactly this RR exists: class IN with rdata */
    DNSMSG_PRE_RRSET_ABSENT,       /* no RRset rr->name, rr->type: class NONE */
    DNSMSG_PRE_NAME_IN_USE,        /* rr->name owns some RR: class ANY, type ANY */
    DNSMSG_PRE_NAME_NOT_IN_USE,    /* rr->name owns no RR: class NONE, type ANY */
} dnsmsg_prereq;

/* Starts an UPDATE (opcode 5) with message id for zone (class IN, type SOA). Returns 0 or
 * KMS_EINVAL (bad zone) / KMS_ESPACE (buffer too small). */
int dnsmsg_update_init(dnsmsg_update *u, uint8_t *buf, size_t cap, uint16_t id, const char *zone);
/* Adds a prerequisite. Returns 0 or an error (also after an update was added). */
int dnsmsg_update_prereq(dnsmsg_update *u, dnsmsg_prereq kind, const dnsmsg_rr *rr);
/* Adds rr (class IN, rr->ttl) to its RRset. SRV, A and AAAA only. */
int dnsmsg_update_add(dnsmsg_update *u, const dnsmsg_rr *rr);
/* Deletes exactly rr (class NONE, TTL 0, same rdata). SRV, A and AAAA only. */
int dnsmsg_update_delete_rr(dnsmsg_update *u, const dnsmsg_rr *rr);
/* Deletes the RRset name/type (class ANY, TTL 0, no rdata); type ANY deletes every RRset
 * of the name. */
int dnsmsg_update_delete_rrset(dnsmsg_update *u, const char *name, uint16_t type);
/* Returns the message length (> 0), or the first error of the builder. */
int dnsmsg_update_finish(dnsmsg_update *u);

/* ---- TSIG (RFC 8945, HMAC-SHA256 only) ------------------------------------------------ */

typedef struct dnsmsg_key {
    char name[DNSMSG_NAME_TEXT_MAX];          /* text, absolute */
    uint8_t wire[DNSMSG_WIRE_NAME_MAX];       /* canonical (lower-case) wire form */
    size_t wire_len;
    uint8_t secret[DNSMSG_SECRET_MAX];
    size_t secret_len;
} dnsmsg_key;

/* Sets a key from its name and raw secret. Returns 0 or KMS_EINVAL. */
int dnsmsg_key_set(dnsmsg_key *key, const char *name, const uint8_t *secret, size_t len);
/* Reads the first key statement of a BIND key file (tsig-keygen output):
 *   key "name" { algorithm hmac-sha256; secret "base64"; };
 * Comments (#, //, / * * /) are skipped. Returns 0, or KMS_EINVAL with *why (static text)
 * saying what is wrong (no key, another algorithm, bad base64, ...). why may be NULL. */
int dnsmsg_key_parse(const char *text, size_t len, dnsmsg_key *key, const char **why);

/* Signs the message buf[0..len) by appending a TSIG RR (buf holds cap bytes) and
 * incrementing ARCOUNT; original ID = the header's id, error 0, no other data. A response
 * is signed over the request's MAC (req_mac/req_mac_len; NULL/0 for a request).
 * time_signed: unix seconds. mac receives the MAC, which the answer's TSIG covers. Returns
 * the new length, or KMS_EINVAL / KMS_ESPACE / KMS_ECRYPTO. */
int dnsmsg_tsig_sign(uint8_t *buf, size_t len, size_t cap, const dnsmsg_key *key,
                     const uint8_t *req_mac, size_t req_mac_len, uint64_t time_signed,
                     uint16_t fudge, uint8_t mac[DNSMSG_MAC_LEN]);

/* ---- parsing ---------------------------------------------------------------------------- */

typedef struct dnsmsg_info {
    uint16_t id;
    bool qr;               /* a response */
    int opcode;
    int rcode;             /* the header's 4 bits */
    uint16_t flags;        /* the whole second header word */
    uint16_t qdcount, ancount, nscount, arcount;
    size_t answer_off;     /* offset of the first RR after the question (zone) section */
    /* The TSIG RR, when the last additional RR is one (elsewhere it is an error): */
    bool has_tsig;
    size_t tsig_off;       /* where the TSIG RR starts: the message without it is [0, tsig_off) */
    uint8_t tsig_key[DNSMSG_WIRE_NAME_MAX]; /* its owner (the key name), wire form */
    size_t tsig_key_len;
    bool tsig_alg_ok;      /* the algorithm is hmac-sha256. */
    uint64_t tsig_time;    /* time signed, unix seconds */
    uint16_t tsig_fudge;
    uint16_t tsig_mac_len;
    size_t tsig_mac_off;   /* offset of the MAC in the message */
    uint16_t tsig_orig_id;
    uint16_t tsig_error;   /* BADSIG, BADKEY, BADTIME... (0 = none) */
    uint16_t tsig_other_len;
    size_t tsig_other_off;
} dnsmsg_info;

/* Parses the header and walks every section (names with compression pointers that point
 * backwards only, every length against the input). Returns 0, KMS_ETRUNC (shorter than
 * its counts say) or KMS_EINVAL (malformed: bad label, pointer loop, misplaced TSIG). */
int dnsmsg_parse(const uint8_t *msg, size_t len, dnsmsg_info *info);

/* Reads the RR at *pos (start at info->answer_off) and advances *pos past it. Returns 0
 * or KMS_ETRUNC / KMS_EINVAL. */
int dnsmsg_read_rr(const uint8_t *msg, size_t len, size_t *pos, dnsmsg_rr *rr);

/* Verifies the TSIG of a parsed message with key: for a response, over the request's MAC
 * (req_mac/req_mac_len); for a request, req_mac NULL. now: unix seconds. Returns 0 when
 * the MAC is right and the time within the fudge; KMS_EMAC when there is no TSIG, it names
 * another key or algorithm, the MAC is empty (the server reported info->tsig_error) or
 * wrong; KMS_ETIMEOUT when the time signed is more than the fudge away from now. */
int dnsmsg_tsig_verify(const uint8_t *msg, size_t len, const dnsmsg_info *info,
                       const dnsmsg_key *key, const uint8_t *req_mac, size_t req_mac_len,
                       uint64_t now);

/* ---- SRV target order (RFC 2782) -------------------------------------------------------- */

typedef struct dnsmsg_srv {
    uint16_t priority, weight, port;
    char target[256];
} dnsmsg_srv;

/* Uniform random number in 0..max (inclusive). */
typedef uint32_t (*dnsmsg_rand_fn)(void *ctx, uint32_t max);

/* Sorts srv[0..n) into the order a client tries them: lowest priority first; within a
 * priority, the weighted random selection of RFC 2782 (zero weights first in the running
 * sum, a random number in 0..sum, the first record whose running sum reaches it). A "."
 * target (service not offered) is moved to the end. Returns 0 or KMS_EINVAL. */
int dnsmsg_srv_order(dnsmsg_srv *srv, size_t n, dnsmsg_rand_fn rnd, void *ctx);

#endif
