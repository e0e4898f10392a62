#!/usr/bin/env bash
# Builds the Leptos admin UI to web/dist, which the server binary embeds.
source "$(dirname "$0")/lib.sh"
build_ui
