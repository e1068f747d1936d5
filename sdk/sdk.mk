# sdk/sdk.mk: libjiaozi (the C SDK of include/jiaozi.h), its pkg-config file and the example.
#
# Included by the top Makefile once CC, CFLAGS, LDLIBS and BUILD are defined:
#     include sdk/sdk.mk
# It defines
#     $(BUILD)/libjiaozi.a       sdk/*.c + src/crypto.c + src/common.c (objects of $(BUILD)/%.o)
#     $(BUILD)/libjiaozi.so      the same compiled -fPIC into $(BUILD)/pic/, exporting only the
#                                jz_* functions of jiaozi.h (sdk/libjiaozi.map)
#     $(BUILD)/jiaozi.pc         from sdk/jiaozi.pc.in, prefix $(SDK_PREFIX) (/usr/local)
#     $(BUILD)/examples/pay      examples/pay.c linked against libjiaozi.a
#     sdk                        all four
# and, because src/cli/cli_client.c (in libjzcore.a) and tests/unit/test_sdk.c call the SDK,
# it adds libjiaozi.a to the link of $(BUILD)/jiaozi and $(BUILD)/jz_tests (as an extra
# prerequisite, so it lands in their $^ after libjzcore.a) and jansson to CFLAGS and LDLIBS.
# Debian package for jansson: libjansson-dev.

SDK_SAVED_GOAL := $(.DEFAULT_GOAL)

SDK_VERSION    := 0.1.0
SDK_PREFIX     ?= /usr/local
SDK_SRC        := $(wildcard sdk/*.c)
SDK_LIB_SRC    := $(SDK_SRC) src/crypto.c src/common.c
SDK_OBJ        := $(SDK_LIB_SRC:%.c=$(BUILD)/%.o)
SDK_PIC_OBJ    := $(SDK_LIB_SRC:%.c=$(BUILD)/pic/%.o)
JANSSON_CFLAGS := $(shell pkg-config --cflags jansson 2>/dev/null)
JANSSON_LIBS   := $(or $(shell pkg-config --libs jansson 2>/dev/null),-ljansson)
# What the shared library itself needs (not sqlite3 or the rest of LDLIBS).
SDK_SO_LIBS    := $(or $(shell pkg-config --libs openssl 2>/dev/null),-lssl -lcrypto) $(JANSSON_LIBS)

CFLAGS += $(JANSSON_CFLAGS)
LDLIBS += $(JANSSON_LIBS)

.PHONY: sdk
sdk: $(BUILD)/libjiaozi.a $(BUILD)/libjiaozi.so $(BUILD)/jiaozi.pc $(BUILD)/examples/pay

$(BUILD)/libjiaozi.a: $(SDK_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/pic/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -c $< -o $@

$(BUILD)/libjiaozi.so: $(SDK_PIC_OBJ) sdk/libjiaozi.map
	$(CC) $(CFLAGS) -shared -Wl,-soname,libjiaozi.so -Wl,--version-script=sdk/libjiaozi.map \
		$(SDK_PIC_OBJ) -o $@ $(SDK_SO_LIBS)

$(BUILD)/jiaozi.pc: sdk/jiaozi.pc.in
	@mkdir -p $(dir $@)
	sed -e 's|@PREFIX@|$(SDK_PREFIX)|g' -e 's|@VERSION@|$(SDK_VERSION)|g' $< > $@

$(BUILD)/examples/pay: examples/pay.c $(BUILD)/libjiaozi.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $< $(BUILD)/libjiaozi.a -o $@ $(LDLIBS)

# The CLI's client commands and the SDK's unit tests link against the SDK.
$(BUILD)/jiaozi: $(BUILD)/libjiaozi.a
$(BUILD)/jz_tests: $(BUILD)/libjiaozi.a

-include $(SDK_OBJ:.o=.d) $(SDK_PIC_OBJ:.o=.d) $(BUILD)/examples/pay.d

# Including this file must not change the top Makefile's default goal.
.DEFAULT_GOAL := $(SDK_SAVED_GOAL)
