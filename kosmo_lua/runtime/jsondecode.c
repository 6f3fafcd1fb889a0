/*
 * JSON text straight into Lua tables: the pages of a listing (kosmo_lua/runtime/native.py).
 *
 * The Python path decodes a page with json.loads and then builds every value again as Lua
 * tables; for big listings that second pass costs more than the decoding. This decodes the
 * reply body once, into the tables the script gets.
 *
 * It decodes only what it can decode exactly as the Python path would (json.loads, then
 * engine.py's conversion): RFC 8259 JSON in UTF-8, integers within 64 bits, strings without
 * lone surrogates, at most max_depth levels. Anything else it refuses (nil and a reason),
 * and the host takes the Python path, whose answer stands: the two paths never disagree.
 *
 * lupa links Lua into its module and loads that module privately, so this library reaches
 * the Lua API through pointers that kosmo_json_bind finds in lupa's module (dlsym), then the
 * host loads kosmo_json_decode with package.loadlib. Every allocation is Lua's: the run's
 * memory limit holds while a page is built, and a memory error unwinds nothing of ours.
 */
#include <dlfcn.h>
#include <stddef.h>
#include <string.h>

/* The few parts of Lua 5.4's C API this uses, as lua.h declares them. */
typedef struct lua_State lua_State;
typedef long long lua_Integer;

static struct {
    void (*settop)(lua_State *, int);
    int (*checkstack)(lua_State *, int);
    void (*pushvalue)(lua_State *, int);
    void (*copy)(lua_State *, int, int);
    const char *(*tolstring)(lua_State *, int, size_t *);
    int (*toboolean)(lua_State *, int);
    lua_Integer (*tointegerx)(lua_State *, int, int *);
    void (*createtable)(lua_State *, int, int);
    void (*rawset)(lua_State *, int);
    void (*rawseti)(lua_State *, int, lua_Integer);
    int (*next)(lua_State *, int);
    void (*pushnil)(lua_State *);
    void (*pushinteger)(lua_State *, lua_Integer);
    void (*pushboolean)(lua_State *, int);
    const char *(*pushlstring)(lua_State *, const char *, size_t);
    size_t (*stringtonumber)(lua_State *, const char *);
    void *(*newuserdatauv)(lua_State *, size_t, int);
} lua;

static const struct {
    const char *name;
    void **slot;
} api[] = {
    {"lua_settop", (void **)&lua.settop},
    {"lua_checkstack", (void **)&lua.checkstack},
    {"lua_pushvalue", (void **)&lua.pushvalue},
    {"lua_copy", (void **)&lua.copy},
    {"lua_tolstring", (void **)&lua.tolstring},
    {"lua_toboolean", (void **)&lua.toboolean},
    {"lua_tointegerx", (void **)&lua.tointegerx},
    {"lua_createtable", (void **)&lua.createtable},
    {"lua_rawset", (void **)&lua.rawset},
    {"lua_rawseti", (void **)&lua.rawseti},
    {"lua_next", (void **)&lua.next},
    {"lua_pushnil", (void **)&lua.pushnil},
    {"lua_pushinteger", (void **)&lua.pushinteger},
    {"lua_pushboolean", (void **)&lua.pushboolean},
    {"lua_pushlstring", (void **)&lua.pushlstring},
    {"lua_stringtonumber", (void **)&lua.stringtonumber},
    {"lua_newuserdatauv", (void **)&lua.newuserdatauv},
};

/* Finds the Lua API in the already loaded module at lupa_path: 0 when every part is found.
   Each engine binds before its first page; the pointers are written once, not under a run. */
int kosmo_json_bind(const char *lupa_path) {
    static void *bound;
    void *module = dlopen(lupa_path, RTLD_NOW | RTLD_NOLOAD);
    if (module == NULL) {
        return -1;
    }
    if (module == bound) {
        return 0;
    }
    for (size_t i = 0; i < sizeof api / sizeof api[0]; i++) {
        void *found = dlsym(module, api[i].name);
        if (found == NULL) {
            return -1;
        }
        *api[i].slot = found;
    }
    bound = module; /* the handle stays open: lupa's module is never unloaded anyway */
    return 0;
}

/* kosmo_json_decode's stack: its arguments, the scratch buffer, then the value decoded. */
enum { BODY = 1, NULL_VALUE, KINDS, KEEP_NULL, MAX_DEPTH, SCRATCH, VALUE };

#define LONGEST_NUMBER 200 /* as Lua's own conversion; a longer float takes the Python path */
#define IS_NULL 1          /* parse_value's answer when it pushed json.null */
#define REFUSED (-1)

typedef struct {
    lua_State *L;
    const unsigned char *at, *end;
    int keep_null;
    lua_Integer max_depth;
    unsigned char *scratch;
    size_t scratch_size;
    lua_Integer count; /* the length of the array closed last: the outermost, in the end */
    const char *refusal;
} Parser;

static int refuse(Parser *p, const char *why) {
    p->refusal = why;
    return REFUSED;
}

static void skip_space(Parser *p) {
    while (p->at < p->end && (*p->at == ' ' || *p->at == '\n' || *p->at == '\r' || *p->at == '\t')) {
        p->at++;
    }
}

/* Marks the table on top as an empty object or array for the prelude's `kinds`. */
static void mark(Parser *p, const char *kind) {
    lua.pushvalue(p->L, -1);
    lua.pushlstring(p->L, kind, strlen(kind));
    lua.rawset(p->L, KINDS);
}

/* The length of the UTF-8 sequence at q (strict: no overlong forms, no surrogates), or 0. */
static size_t utf8_length(const unsigned char *q, const unsigned char *end) {
    unsigned char c = q[0];
    size_t length;
    unsigned char low = 0x80, high = 0xBF; /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        length = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        length = 3;
        if (c == 0xE0) low = 0xA0;
        if (c == 0xED) high = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
        length = 4;
        if (c == 0xF0) low = 0x90;
        if (c == 0xF4) high = 0x8F;
    } else {
        return 0;
    }
    if ((size_t)(end - q) < length || q[1] < low || q[1] > high) {
        return 0;
    }
    for (size_t i = 2; i < length; i++) {
        if (q[i] < 0x80 || q[i] > 0xBF) {
            return 0;
        }
    }
    return length;
}

/* The four hex digits of a \u escape at q, into *value: 0 when one is not a hex digit. */
static int hex4(const unsigned char *q, unsigned *value) {
    unsigned v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = q[i];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= (unsigned)(c - '0');
        else if (c >= 'a' && c <= 'f') v |= (unsigned)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') v |= (unsigned)(c - 'A' + 10);
        else return 0;
    }
    *value = v;
    return 1;
}

/* Writes code point cp (never a surrogate) as UTF-8 at out: the number of bytes written. */
static size_t put_utf8(unsigned char *out, unsigned cp) {
    if (cp < 0x80) {
        out[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (unsigned char)(0xC0 | (cp >> 6));
        out[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (unsigned char)(0xE0 | (cp >> 12));
        out[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (unsigned char)(0xF0 | (cp >> 18));
    out[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/* A scratch buffer of at least `size` bytes, a Lua userdata kept in the SCRATCH slot. */
static unsigned char *scratch(Parser *p, size_t size) {
    if (size > p->scratch_size) {
        size_t grown = p->scratch_size * 2 > size ? p->scratch_size * 2 : size;
        p->scratch = lua.newuserdatauv(p->L, grown, 0);
        p->scratch_size = grown;
        lua.copy(p->L, -1, SCRATCH);
        lua.settop(p->L, -2);
    }
    return p->scratch;
}

/* A string with escapes, from just after its opening quote: decoded into the scratch. */
static int parse_escaped(Parser *p, const unsigned char *start) {
    const unsigned char *q = start;
    while (q < p->end && *q != '"') { /* the closing quote, to size the scratch */
        if (*q == '\\' && p->end - q < 2) {
            return refuse(p, "a string does not end");
        }
        q += (*q == '\\') ? 2 : 1;
    }
    if (q >= p->end) {
        return refuse(p, "a string does not end");
    }
    unsigned char *out = scratch(p, (size_t)(q - start)), *o = out;
    const unsigned char *end = q;
    for (q = start; q < end;) {
        unsigned char c = *q;
        if (c == '\\') {
            unsigned cp, low;
            switch (q[1]) {
            case '"': case '\\': case '/': *o++ = q[1]; q += 2; continue;
            case 'b': *o++ = '\b'; q += 2; continue;
            case 'f': *o++ = '\f'; q += 2; continue;
            case 'n': *o++ = '\n'; q += 2; continue;
            case 'r': *o++ = '\r'; q += 2; continue;
            case 't': *o++ = '\t'; q += 2; continue;
            case 'u': break;
            default: return refuse(p, "an unknown escape");
            }
            if (end - q < 6 || !hex4(q + 2, &cp)) {
                return refuse(p, "a bad \\u escape");
            }
            q += 6;
            if (cp >= 0xDC00 && cp <= 0xDFFF) {
                return refuse(p, "a lone surrogate");
            }
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - q < 6 || q[0] != '\\' || q[1] != 'u' || !hex4(q + 2, &low) ||
                    low < 0xDC00 || low > 0xDFFF) {
                    return refuse(p, "a lone surrogate");
                }
                cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
                q += 6;
            }
            o += put_utf8(o, cp);
        } else if (c < 0x20) {
            return refuse(p, "a control character in a string");
        } else if (c < 0x80) {
            *o++ = c;
            q++;
        } else {
            size_t length = utf8_length(q, end);
            if (length == 0) {
                return refuse(p, "text that is not UTF-8");
            }
            memcpy(o, q, length);
            o += length;
            q += length;
        }
    }
    lua.pushlstring(p->L, (const char *)out, (size_t)(o - out));
    p->at = end + 1;
    return 0;
}

static int parse_string(Parser *p) {
    const unsigned char *start = ++p->at, *q = start;
    while (q < p->end) {
        unsigned char c = *q;
        if (c == '"') {
            lua.pushlstring(p->L, (const char *)start, (size_t)(q - start));
            p->at = q + 1;
            return 0;
        }
        if (c == '\\') {
            return parse_escaped(p, start);
        }
        if (c < 0x20) {
            return refuse(p, "a control character in a string");
        }
        if (c < 0x80) {
            q++;
            continue;
        }
        size_t length = utf8_length(q, p->end);
        if (length == 0) {
            return refuse(p, "text that is not UTF-8");
        }
        q += length;
    }
    return refuse(p, "a string does not end");
}

static int is_digit(const unsigned char *q, const unsigned char *end) {
    return q < end && *q >= '0' && *q <= '9';
}

/* -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?: an integer as Lua's, a float as strtod's. */
static int parse_number(Parser *p) {
    const unsigned char *start = p->at, *q = start;
    int negative = (*q == '-');
    if (negative) q++;
    if (!is_digit(q, p->end)) return refuse(p, "not JSON");
    if (*q == '0') {
        q++;
    } else {
        while (is_digit(q, p->end)) q++;
    }
    const unsigned char *integer_end = q;
    if (q < p->end && *q == '.') {
        q++;
        if (!is_digit(q, p->end)) return refuse(p, "not JSON");
        while (is_digit(q, p->end)) q++;
    }
    if (q < p->end && (*q == 'e' || *q == 'E')) {
        q++;
        if (q < p->end && (*q == '+' || *q == '-')) q++;
        if (!is_digit(q, p->end)) return refuse(p, "not JSON");
        while (is_digit(q, p->end)) q++;
    }
    p->at = q;
    if (q == integer_end) {
        unsigned long long magnitude = 0, limit = negative ? 9223372036854775808ULL
                                                           : 9223372036854775807ULL;
        for (const unsigned char *d = start + negative; d < q; d++) {
            unsigned digit = (unsigned)(*d - '0');
            if (magnitude > (limit - digit) / 10) {
                return refuse(p, "an integer past 64 bits");
            }
            magnitude = magnitude * 10 + digit;
        }
        /* negated as unsigned, then cast, as Lua's l_str2int does: C99 leaves the cast of
           2^63 to the compiler, and the compilers Lua builds with wrap it to INT64_MIN */
        lua_Integer value = negative ? (lua_Integer)(0 - magnitude) : (lua_Integer)magnitude;
        lua.pushinteger(p->L, value);
        return 0;
    }
    char text[LONGEST_NUMBER + 1];
    size_t length = (size_t)(q - start);
    if (length > LONGEST_NUMBER) {
        return refuse(p, "a long number");
    }
    memcpy(text, start, length);
    text[length] = '\0';
    if (lua.stringtonumber(p->L, text) != length + 1) {
        return refuse(p, "a number Lua does not read");
    }
    return 0;
}

static int literal(Parser *p, const char *word) {
    size_t length = strlen(word);
    if ((size_t)(p->end - p->at) < length || memcmp(p->at, word, length) != 0) {
        return refuse(p, "not JSON");
    }
    p->at += length;
    return 0;
}

static int parse_value(Parser *p, lua_Integer depth);

static int parse_array(Parser *p, lua_Integer depth) {
    if (depth > p->max_depth || !lua.checkstack(p->L, 4)) {
        return refuse(p, "too deep");
    }
    p->at++;
    lua.createtable(p->L, 0, 0);
    skip_space(p);
    if (p->at < p->end && *p->at == ']') {
        p->at++;
        p->count = 0;
        mark(p, "array");
        return 0;
    }
    for (lua_Integer n = 1;; n++) {
        if (parse_value(p, depth) == REFUSED) return REFUSED;
        lua.rawseti(p->L, -2, n);
        skip_space(p);
        if (p->at < p->end && *p->at == ',') {
            p->at++;
        } else if (p->at < p->end && *p->at == ']') {
            p->at++;
            p->count = n;
            return 0;
        } else {
            return refuse(p, "not JSON");
        }
    }
}

static int parse_object(Parser *p, lua_Integer depth) {
    if (depth > p->max_depth || !lua.checkstack(p->L, 4)) {
        return refuse(p, "too deep");
    }
    p->at++;
    lua.createtable(p->L, 0, 0);
    skip_space(p);
    if (p->at < p->end && *p->at == '}') {
        p->at++;
        mark(p, "object");
        return 0;
    }
    int dropped = 0;
    for (;;) {
        skip_space(p);
        if (p->at >= p->end || *p->at != '"') return refuse(p, "not JSON");
        if (parse_string(p) == REFUSED) return REFUSED;
        skip_space(p);
        if (p->at >= p->end || *p->at != ':') return refuse(p, "not JSON");
        p->at++;
        int found = parse_value(p, depth);
        if (found == REFUSED) return REFUSED;
        if (found == IS_NULL && !p->keep_null) {
            /* a null entry is no entry, and takes out an earlier one of its key */
            lua.settop(p->L, -2);
            lua.pushnil(p->L);
            dropped = 1;
        }
        lua.rawset(p->L, -3);
        skip_space(p);
        if (p->at < p->end && *p->at == ',') {
            p->at++;
        } else if (p->at < p->end && *p->at == '}') {
            p->at++;
            break;
        } else {
            return refuse(p, "not JSON");
        }
    }
    if (dropped) { /* every entry was a null: still an object */
        lua.pushnil(p->L);
        if (lua.next(p->L, -2)) {
            lua.settop(p->L, -3);
        } else {
            mark(p, "object");
        }
    }
    return 0;
}

static int parse_value(Parser *p, lua_Integer depth) {
    skip_space(p);
    if (p->at >= p->end) {
        return refuse(p, "the text ends early");
    }
    switch (*p->at) {
    case '{': return parse_object(p, depth + 1);
    case '[': return parse_array(p, depth + 1);
    case '"': return parse_string(p);
    case 't':
        if (literal(p, "true") == REFUSED) return REFUSED;
        lua.pushboolean(p->L, 1);
        return 0;
    case 'f':
        if (literal(p, "false") == REFUSED) return REFUSED;
        lua.pushboolean(p->L, 0);
        return 0;
    case 'n':
        if (literal(p, "null") == REFUSED) return REFUSED;
        lua.pushvalue(p->L, NULL_VALUE);
        return IS_NULL;
    default: return parse_number(p);
    }
}

/* kosmo_json_decode's answer when it refuses the text: nil and why, nothing half built. */
static int refused(lua_State *L, const char *why) {
    lua.settop(L, 0);
    lua.pushnil(L);
    lua.pushlstring(L, why, strlen(why));
    return 2;
}

/*
 * decode(body, null, kinds, keep_null, max_depth) -> items, count | nil, reason
 *
 * A page's items as the Python path makes them (Response.items): a JSON array's elements,
 * or any other value as the one item. Nulls in arrays are `null`; in objects they are
 * dropped unless keep_null. Empty tables, and objects left empty, are marked in `kinds`.
 */
int kosmo_json_decode(lua_State *L) {
    size_t length;
    lua.settop(L, MAX_DEPTH);
    const char *body = lua.tolstring(L, BODY, &length);
    if (body == NULL) {
        return refused(L, "no body");
    }
    lua.pushnil(L); /* SCRATCH */
    Parser p = {L, (const unsigned char *)body, (const unsigned char *)body + length,
                lua.toboolean(L, KEEP_NULL), lua.tointegerx(L, MAX_DEPTH, NULL), NULL, 0, 0, NULL};
    skip_space(&p);
    int array = p.at < p.end && *p.at == '[';
    if (parse_value(&p, 0) != REFUSED) {
        skip_space(&p);
        if (p.at != p.end) refuse(&p, "more after the value");
    }
    if (p.refusal != NULL) {
        return refused(L, p.refusal);
    }
    if (!array) { /* one item */
        lua.createtable(L, 1, 0);
        lua.pushvalue(L, VALUE);
        lua.rawseti(L, -2, 1);
        lua.pushinteger(L, 1);
        return 2;
    }
    lua.pushinteger(L, p.count);
    return 2;
}
