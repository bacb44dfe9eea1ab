/* The .varlink files under docs/ are the single source of the interface
 * descriptions: they are embedded here at build time. */
#include <string.h>

#include "methods.h"

#define EMBED(sym, file)                                                                                    \
        __asm__(".section .rodata\n"                                                                        \
                ".global " #sym "\n"                                                                        \
                ".type " #sym ", @object\n" #sym ":\n"                                                      \
                ".incbin \"" file "\"\n"                                                                    \
                ".byte 0\n"                                                                                 \
                ".previous\n");                                                                             \
        extern const char sym[]

EMBED(vaultd_iface_service, "docs/org.varlink.service.varlink");
EMBED(vaultd_iface_records, "docs/io.vaultd.records.varlink");
EMBED(vaultd_iface_audit, "docs/io.vaultd.audit.varlink");
EMBED(vaultd_iface_admin, "docs/io.vaultd.admin.varlink");

const char *const interface_names[] = {
        "org.varlink.service", "io.vaultd.records", "io.vaultd.audit", "io.vaultd.admin", NULL,
};

const char *interface_description(const char *name)
{
        const char *const texts[] = {vaultd_iface_service, vaultd_iface_records, vaultd_iface_audit,
                                     vaultd_iface_admin};

        for (size_t i = 0; interface_names[i]; i++)
                if (strcmp(name, interface_names[i]) == 0)
                        return texts[i];
        return NULL;
}

bool interface_known(const char *name)
{
        return interface_description(name) != NULL;
}
