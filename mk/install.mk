# SPDX-License-Identifier: (GPL-2.0 OR BSD-2-Clause)
# make install / make uninstall: drover on a bare balancer host (docs/deploy.md, "Without
# Kubernetes: a systemd unit"). PREFIX (default /usr/local) places the files, DESTDIR stages
# them for a package; each directory can be set on its own too:
#   $(BINDIR)/drover                  the static binary (.output/drover-static)
#   $(UNITDIR)/drover.service         the systemd unit; ExecStart= names $(BINDIR)/drover
#   $(MANDIR)/man8/drover.8, $(MANDIR)/man5/drover.yaml.5
#   $(DOCDIR)/README.md, $(DOCDIR)/examples/*.yaml
#   /etc/drover/drover.yaml           examples/rancher.yaml, only when there is none: an
#                                     operator's config is never overwritten, nor uninstalled
# The unit and the pages name /usr/local paths; install rewrites them to the ones chosen.
# uninstall removes what install put there but the config, and warns when interfaces are
# still attached (forwarding outlives the binary: detach them first).

PREFIX		?= /usr/local
BINDIR		?= $(PREFIX)/bin
UNITDIR		?= $(PREFIX)/lib/systemd/system
MANDIR		?= $(PREFIX)/share/man
DOCDIR		?= $(PREFIX)/share/doc/drover
CONFDIR		:= /etc/drover
PIN_ROOT	:= /sys/fs/bpf/drover
INSTALL_OUT	:= $(BPF_OUT)/install
INSTALL_EXAMPLES := $(notdir $(wildcard examples/*.yaml))
MAN_PAGES	:= man/drover.8 man/drover.yaml.5
# The source files' /usr/local paths → the chosen ones.
INSTALL_SED	:= -e 's\#/usr/local/bin/drover\#$(BINDIR)/drover\#g' \
		   -e 's\#/usr/local/lib/systemd/system\#$(UNITDIR)\#g' \
		   -e 's\#/usr/local/share/doc/drover\#$(DOCDIR)\#g'

.PHONY: install uninstall

# The sanitized build is dynamic and for tests only; the installed binary is the static one.
ifeq ($(SAN),1)
ifneq ($(filter install,$(MAKECMDGOALS)),)
$(error make install takes the normal build, not SAN=1's: run it without SAN=1)
endif
endif

# The static binary of the image (mk/image.mk): it needs no library on the host.
install: $(BPF_OUT)/drover-static $(MAN_PAGES) deploy/systemd/drover.service
	$(Q)mkdir -p $(INSTALL_OUT)
	$(call msg,INSTALL,$(DESTDIR)$(BINDIR)/drover)
	$(Q)install -D -m 0755 $(BPF_OUT)/drover-static $(DESTDIR)$(BINDIR)/drover
	$(call msg,INSTALL,$(DESTDIR)$(UNITDIR)/drover.service)
	$(Q)sed $(INSTALL_SED) deploy/systemd/drover.service >$(INSTALL_OUT)/drover.service
	$(Q)install -D -m 0644 $(INSTALL_OUT)/drover.service $(DESTDIR)$(UNITDIR)/drover.service
	$(Q)for p in $(MAN_PAGES); do \
		d=$(DESTDIR)$(MANDIR)/man$${p##*.}/$${p#man/}; \
		$(if $(Q),printf '  %-8s %s\n' INSTALL "$$d";) \
		sed $(INSTALL_SED) "$$p" >$(INSTALL_OUT)/page && \
		install -D -m 0644 $(INSTALL_OUT)/page "$$d" || exit 1; \
	done
	$(call msg,INSTALL,$(DESTDIR)$(DOCDIR)/README.md)
	$(Q)install -D -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	$(call msg,INSTALL,$(DESTDIR)$(DOCDIR)/examples/ ($(INSTALL_EXAMPLES)))
	$(Q)install -d -m 0755 $(DESTDIR)$(DOCDIR)/examples
	$(Q)install -m 0644 $(addprefix examples/,$(INSTALL_EXAMPLES)) $(DESTDIR)$(DOCDIR)/examples/
	$(Q)c=$(DESTDIR)$(CONFDIR)/drover.yaml; \
	if [ -e "$$c" ] || [ -L "$$c" ]; then \
		printf '  %-8s %s\n' KEPT "$$c: a config is there, left as it is (the example is $(DOCDIR)/examples/rancher.yaml)"; \
	else \
		printf '  %-8s %s\n' INSTALL "$$c (examples/rancher.yaml: edit it)"; \
		install -D -m 0644 examples/rancher.yaml "$$c" || exit 1; \
	fi
	$(Q)if [ -e $(DESTDIR)/etc/systemd/system/drover.service ]; then \
		echo "Warning: $(DESTDIR)/etc/systemd/system/drover.service (a copy installed by hand) overrides $(UNITDIR)/drover.service: remove it, then systemctl daemon-reload" >&2; \
	fi
	$(Q)[ -n "$(DESTDIR)" ] || echo "Next: edit $(CONFDIR)/drover.yaml, check it ($(BINDIR)/drover run config $(CONFDIR)/drover.yaml --check), then: systemctl daemon-reload && systemctl enable --now drover (an upgrade: systemctl restart drover)"

uninstall:
	$(Q)links=$$(ls $(DESTDIR)$(PIN_ROOT)/links 2>/dev/null | tr '\n' ' '); \
	if [ -n "$$links" ]; then \
		echo "Warning: drover still forwards on $$links(links pinned in $(DESTDIR)$(PIN_ROOT)/links) and goes on without the binary; to stop it: drover detach IFNAME for each, before uninstall or with .output/drover" >&2; \
	fi
	$(call msg,REMOVE,$(DESTDIR)$(BINDIR)/drover)
	$(Q)rm -f $(DESTDIR)$(BINDIR)/drover
	$(call msg,REMOVE,$(DESTDIR)$(UNITDIR)/drover.service)
	$(Q)rm -f $(DESTDIR)$(UNITDIR)/drover.service
	$(call msg,REMOVE,$(DESTDIR)$(MANDIR)/man8/drover.8 $(DESTDIR)$(MANDIR)/man5/drover.yaml.5)
	$(Q)rm -f $(DESTDIR)$(MANDIR)/man8/drover.8 $(DESTDIR)$(MANDIR)/man5/drover.yaml.5
	$(call msg,REMOVE,$(DESTDIR)$(DOCDIR))
	$(Q)rm -f $(DESTDIR)$(DOCDIR)/README.md $(addprefix $(DESTDIR)$(DOCDIR)/examples/,$(INSTALL_EXAMPLES))
	$(Q)rmdir $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	$(Q)c=$(DESTDIR)$(CONFDIR)/drover.yaml; \
	if [ -e "$$c" ]; then printf '  %-8s %s\n' KEPT "$$c: the config stays (remove it yourself)"; fi
	$(Q)[ -n "$(DESTDIR)" ] || echo "If the unit ran: systemctl disable --now drover; systemctl daemon-reload"
