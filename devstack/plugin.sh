#!/bin/bash
# devstack plugin of esi-event-actions: installs the package, writes its
# configuration from devstack's RabbitMQ settings, installs the sample
# scripts and runs the service.
#
#     enable_plugin esi-event-actions https://github.com/CCI-MOC/esi-event-actions
#
# Settings: devstack/settings.  Documentation: devstack/README.rst.

# Save trace setting
_XTRACE_ESI_EVENT_ACTIONS=$(set +o | grep xtrace)
set +o xtrace

ESI_EVENT_ACTIONS_SERVICE=esi-event-actions

# The directory of the installed commands.
function esi_event_actions_bin_dir {
    local bin_dir
    bin_dir=$(get_python_exec_prefix)
    echo "${bin_dir:-/usr/local/bin}"
}

# Text URL-quoted for a transport URL's user name or password.
function _esi_event_actions_quote {
    "${PYTHON:-python3}" -c 'import sys, urllib.parse
print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"
}

# The transport URL of devstack's RabbitMQ.
function esi_event_actions_transport_url {
    local user password
    user=$(_esi_event_actions_quote "$RABBIT_USERID")
    password=$(_esi_event_actions_quote "$RABBIT_PASSWORD")
    local port=$ESI_EVENT_ACTIONS_RABBIT_PORT
    echo "rabbit://$user:$password@$RABBIT_HOST:$port/"
}

# A value of esi-leap's configuration file, or nothing.
function _esi_leap_option {
    if [[ -r "$ESI_LEAP_CONF_FILE" ]]; then
        iniget "$ESI_LEAP_CONF_FILE" "$1" "$2"
    fi
}

function install_esi_event_actions {
    setup_develop "$ESI_EVENT_ACTIONS_DIR" "$ESI_EVENT_ACTIONS_EXTRAS"
}

function configure_esi_event_actions {
    local conf=$ESI_EVENT_ACTIONS_CONF_FILE
    local scripts=$ESI_EVENT_ACTIONS_SCRIPTS_DIR
    local topics exchange value option

    sudo install -d -o "$STACK_USER" -m 755 "$ESI_EVENT_ACTIONS_CONF_DIR" \
        "$scripts"
    install -d -m 700 "$ESI_EVENT_ACTIONS_STATE_PATH"
    install -m 755 \
        "$ESI_EVENT_ACTIONS_DIR"/etc/esi-event-actions/scripts/*.sh "$scripts"
    rm -f "$conf"

    iniset "$conf" DEFAULT transport_url "$(esi_event_actions_transport_url)"
    iniset "$conf" DEFAULT state_path "$ESI_EVENT_ACTIONS_STATE_PATH"
    iniset "$conf" DEFAULT debug "$ENABLE_DEBUG_LOG_LEVEL"

    topics=$(_esi_leap_option notification versioned_notifications_topics)
    exchange=$(_esi_leap_option DEFAULT control_exchange)
    iniset "$conf" listener topics "${topics:-$ESI_EVENT_ACTIONS_TOPICS}"
    iniset "$conf" listener exchange \
        "${exchange:-$ESI_EVENT_ACTIONS_EXCHANGE}"
    # The notification queues are declared by esi-leap: declaring them
    # with other settings is refused by RabbitMQ.
    for option in amqp_durable_queues rabbit_quorum_queue; do
        value=$(_esi_leap_option oslo_messaging_rabbit $option)
        if [[ -n "$value" ]]; then
            iniset "$conf" oslo_messaging_rabbit $option "$value"
        fi
    done

    if [[ "$ESI_EVENT_ACTIONS_SAMPLE_RULES" == "True" ]]; then
        iniset "$conf" fulfill events esi_leap.lease.fulfill.end
        iniset "$conf" fulfill script "$scripts/fulfill.sh"
        iniset "$conf" fulfill script_params node_name,fulfill_time
        iniset "$conf" delete events esi_leap.lease.delete.end
        iniset "$conf" delete script "$scripts/delete.sh"
        iniset "$conf" delete script_params node_name,uuid
    fi

    "$(esi_event_actions_bin_dir)/esi-event-actions-manage" \
        --config-file "$conf" check-config ||
        die $LINENO "$conf is not a valid esi-event-actions configuration"
}

function start_esi_event_actions {
    local bin_dir
    bin_dir=$(esi_event_actions_bin_dir)
    run_process $ESI_EVENT_ACTIONS_SERVICE "$bin_dir/esi-event-actions \
--config-file $ESI_EVENT_ACTIONS_CONF_FILE"
}

function stop_esi_event_actions {
    stop_process $ESI_EVENT_ACTIONS_SERVICE
}

function cleanup_esi_event_actions {
    sudo rm -rf "$ESI_EVENT_ACTIONS_CONF_DIR"
    rm -rf "$ESI_EVENT_ACTIONS_STATE_PATH"
}

if is_service_enabled $ESI_EVENT_ACTIONS_SERVICE; then
    if [[ "$1" == "stack" && "$2" == "install" ]]; then
        echo_summary "Installing esi-event-actions"
        install_esi_event_actions
    elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
        echo_summary "Configuring esi-event-actions"
        configure_esi_event_actions
    elif [[ "$1" == "stack" && "$2" == "extra" ]]; then
        echo_summary "Starting esi-event-actions"
        start_esi_event_actions
    fi

    if [[ "$1" == "unstack" ]]; then
        stop_esi_event_actions
    fi

    if [[ "$1" == "clean" ]]; then
        cleanup_esi_event_actions
    fi
fi

# Restore xtrace
$_XTRACE_ESI_EVENT_ACTIONS
