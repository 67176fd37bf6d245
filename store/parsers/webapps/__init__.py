"""Self-hosted web applications' logs (Authelia, Authentik, Vaultwarden, Nextcloud, Grafana, GitLab, Gitea,
Keycloak, Jellyfin, Overseerr, Paperless-ngx, Immich, Proxmox, … — see the modules): their own line formats,
their logfmt and JSON output, and their messages about logins, normalised to the shared action vocabulary
(outcome.py) so the generic authentication correlations count them.

- lines.py dispatches a text line to the shapes of dotnet_apps, java_apps, php_apps, python_apps, node_apps,
  go_apps and other_apps; logfmt.py reads key=value lines; jsonapps.py JSON objects;
- addresses.py decides which address of a line, or of a forwarded chain, is the client.
The syslog side (the same applications under journald/rsyslog) is store/parsers/services/webapps.py.
"""
