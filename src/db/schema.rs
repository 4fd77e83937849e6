//! The tables, in the portable subset of SQL types that `DbConnection` supports on both backends.

diesel::table! {
    users (id) {
        id -> Text,
        email -> Text,
        password_hash -> Text,
        created_at -> Timestamp,
        undeliverable_email -> Nullable<Text>,
        admin -> Bool,
        suspended_at -> Nullable<Timestamp>,
        deleted_at -> Nullable<Timestamp>,
        second_factor -> Bool,
    }
}

diesel::table! {
    sessions (id) {
        id -> Text,
        user_id -> Nullable<Text>,
        state -> Text,
        created_at -> Timestamp,
        expires_at -> Timestamp,
        public_id -> Nullable<Text>,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        last_seen_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    app_settings (name) {
        name -> Text,
        value -> Text,
    }
}

diesel::table! {
    api_tokens (id) {
        id -> Text,
        user_id -> Text,
        name -> Text,
        token_hash -> Binary,
        prefix -> Text,
        scopes -> Text,
        created_at -> Timestamp,
        expires_at -> Nullable<Timestamp>,
        revoked_at -> Nullable<Timestamp>,
        last_used_at -> Nullable<Timestamp>,
        last_used_ip -> Nullable<Text>,
        revoked_reason -> Nullable<Text>,
        replaced_by -> Nullable<Text>,
        rotated_from -> Nullable<Text>,
        expiry -> Nullable<Text>,
        narrowing -> Text,
    }
}

diesel::table! {
    api_token_projects (token_id, project_id) {
        token_id -> Text,
        project_id -> Text,
    }
}

diesel::table! {
    token_leak_reports (token_id) {
        token_id -> Text,
        channel -> Text,
        url -> Nullable<Text>,
        source -> Nullable<Text>,
        reported_at -> Timestamp,
    }
}

diesel::table! {
    projects (id) {
        id -> Text,
        name -> Text,
        domain -> Nullable<Text>,
        created_at -> Timestamp,
        token_max_lifetime_days -> Nullable<Integer>,
        token_require_restricted -> Bool,
        token_require_second_factor -> Bool,
    }
}

diesel::table! {
    project_members (project_id, user_id) {
        project_id -> Text,
        user_id -> Text,
        role -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    publishes (id) {
        id -> Text,
        project_id -> Text,
        created_by -> Text,
        status -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    messages (id) {
        id -> Text,
        project_id -> Text,
        author_id -> Text,
        body -> Text,
        created_at -> Timestamp,
    }
}

diesel::table! {
    files (project_id, name) {
        project_id -> Text,
        name -> Text,
        content_type -> Text,
        size -> BigInt,
        data -> Binary,
        uploaded_by -> Text,
        uploaded_at -> Timestamp,
    }
}

diesel::table! {
    invoices (id) {
        id -> Text,
        user_id -> Text,
        period -> Text,
        amount_cents -> BigInt,
        created_at -> Timestamp,
    }
}

diesel::table! {
    notifications (id) {
        id -> Text,
        user_id -> Text,
        token_id -> Nullable<Text>,
        kind -> Text,
        dedupe_key -> Text,
        details -> Text,
        created_at -> Timestamp,
        read_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    outbox (id) {
        id -> Text,
        notification_id -> Text,
        recipient -> Text,
        subject -> Text,
        text_body -> Text,
        html_body -> Text,
        created_at -> Timestamp,
        attempts -> Integer,
        next_attempt_at -> Timestamp,
        claimed_until -> Nullable<Timestamp>,
        sent_at -> Nullable<Timestamp>,
        last_error -> Nullable<Text>,
        failed_at -> Nullable<Timestamp>,
    }
}

diesel::table! {
    token_requests (id) {
        id -> BigInt,
        token_id -> Text,
        at -> Timestamp,
        method -> Text,
        route -> Text,
        status -> Integer,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        outcome -> Text,
        project_id -> Nullable<Text>,
        count -> BigInt,
    }
}

diesel::table! {
    token_addresses (token_id, ip) {
        token_id -> Text,
        ip -> Text,
        first_seen_at -> Timestamp,
        last_seen_at -> Timestamp,
        count -> BigInt,
    }
}

diesel::table! {
    token_daily (token_id, day) {
        token_id -> Text,
        day -> Text,
        count -> BigInt,
        unrecorded -> BigInt,
    }
}

diesel::table! {
    security_events (id) {
        id -> Text,
        user_id -> Text,
        kind -> Text,
        at -> Timestamp,
        ip -> Nullable<Text>,
        user_agent -> Nullable<Text>,
        details -> Text,
    }
}

diesel::joinable!(api_tokens -> users (user_id));
diesel::joinable!(token_leak_reports -> api_tokens (token_id));
diesel::joinable!(api_token_projects -> api_tokens (token_id));
diesel::joinable!(api_token_projects -> projects (project_id));
diesel::joinable!(token_requests -> api_tokens (token_id));
diesel::joinable!(notifications -> users (user_id));
diesel::joinable!(outbox -> notifications (notification_id));
diesel::joinable!(security_events -> users (user_id));
diesel::joinable!(sessions -> users (user_id));
diesel::joinable!(project_members -> projects (project_id));
diesel::joinable!(project_members -> users (user_id));
diesel::table! {
    throttle_counts (key) {
        key -> Binary,
        until_ms -> BigInt,
        count -> BigInt,
    }
}

diesel::table! {
    sealed_reveals (token_id) {
        token_id -> Text,
        owner -> Text,
        sealed -> Binary,
        expires_ms -> BigInt,
    }
}

diesel::table! {
    token_quotas (token_id) {
        token_id -> Text,
        tat_ns -> BigInt,
    }
}

diesel::table! {
    instance_token_policy (id) {
        id -> Integer,
        max_lifetime_days -> Nullable<Integer>,
        allow_never -> Bool,
        max_scopes -> Nullable<Integer>,
        require_second_factor -> Bool,
    }
}

diesel::table! {
    trusted_ci (id) {
        id -> Text,
        project_id -> Text,
        created_by -> Text,
        issuer -> Text,
        audience -> Text,
        claims -> Text,
        scopes -> Text,
        lifetime_minutes -> Integer,
        created_at -> Timestamp,
    }
}
diesel::table! {
    ci_issued_tokens (token_id) {
        token_id -> Text,
        issuer -> Text,
        subject -> Text,
        claims -> Text,
    }
}
diesel::table! {
    ci_token_uses (issuer, jti) {
        issuer -> Text,
        jti -> Text,
        expires_at -> Timestamp,
    }
}
diesel::joinable!(trusted_ci -> projects (project_id));
diesel::joinable!(ci_issued_tokens -> api_tokens (token_id));
diesel::allow_tables_to_appear_in_same_query!(
    trusted_ci,
    ci_issued_tokens,
    users,
    sessions,
    app_settings,
    api_tokens,
    token_leak_reports,
    api_token_projects,
    projects,
    project_members,
    publishes,
    messages,
    files,
    invoices,
    notifications,
    outbox,
    token_requests,
    token_addresses,
    token_daily,
    security_events,
    totp_credentials,
    recovery_codes,
    instance_token_policy,
);

diesel::table! {
    totp_credentials (user_id) {
        user_id -> Text,
        sealed -> Binary,
        created_at -> Timestamp,
        confirmed_at -> Nullable<Timestamp>,
        last_step -> Nullable<BigInt>,
    }
}

diesel::table! {
    recovery_codes (user_id, code_hash) {
        user_id -> Text,
        code_hash -> Binary,
        used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(totp_credentials -> users (user_id));
diesel::joinable!(recovery_codes -> users (user_id));

diesel::table! {
    passkeys (id) {
        id -> Text,
        user_id -> Text,
        credential_id -> Binary,
        public_key -> Binary,
        sign_count -> BigInt,
        name -> Text,
        created_at -> Timestamp,
        last_used_at -> Nullable<Timestamp>,
    }
}

diesel::joinable!(passkeys -> users (user_id));
diesel::allow_tables_to_appear_in_same_query!(passkeys, users);
