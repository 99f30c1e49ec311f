//! The two kinds of error a request can end with.
//!
//! [`ClientError`] is safe to show: every variant has a stable SCREAMING_SNAKE
//! `code` and an HTTP status. [`InternalError`] is logged with its context and
//! shown to the client only as `Internal server error` / `INTERNAL_SERVER_ERROR`.
//! [`ClientError::into_response`] is the one place that turns either into
//! GraphQL error JSON. `docs/errors.md` lists every code.

use http::{HeaderValue, StatusCode};

use crate::response::{GraphqlError, GraphqlResponse};

/// An error that ends a request and is safe to show to the client.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ClientError {
    /// The HTTP request is not a well-formed GraphQL request (bad JSON, wrong shape).
    #[error("{0}")]
    InvalidRequest(String),
    /// The request body is larger than `http.max_body_bytes`.
    #[error("request body is larger than the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The configured limit.
        limit: usize,
    },
    /// POST with a content type other than `application/json`.
    #[error("unsupported content type: send `application/json`")]
    UnsupportedMediaType,
    /// The `Accept` header allows no media type Tollgate can answer with.
    #[error("none of the accepted media types is supported: accept `application/graphql-response+json` or `application/json`")]
    NotAcceptable,
    /// A mutation (or other non-query) sent with GET.
    #[error("{0}")]
    MethodNotAllowed(String),
    /// The document does not parse.
    #[error("GraphQL document does not parse")]
    ParseFailed(Vec<GraphqlError>),
    /// The document is not valid against the API schema.
    #[error("GraphQL document is not valid against the schema")]
    ValidationFailed(Vec<GraphqlError>),
    /// The operation name matches no operation in the document.
    #[error("{0}")]
    UnknownOperationName(String),
    /// Variable values that cannot be coerced to their declared types.
    #[error("{}", .0.message)]
    BadUserInput(Box<GraphqlError>),
    /// Authentication failed: a present but invalid credential, or a missing one when required.
    #[error("{message}")]
    Unauthenticated {
        /// Stable reason code, e.g. `TOKEN_EXPIRED`.
        reason: &'static str,
        /// Client-safe message.
        message: String,
        /// Value of the `WWW-Authenticate` response header.
        www_authenticate: &'static str,
    },
    /// The operation exceeds one of the `limits:` (depth, aliases, root fields).
    #[error("{message}")]
    LimitExceeded {
        /// `MAX_DEPTH_EXCEEDED`, `MAX_ALIASES_EXCEEDED` or `MAX_ROOT_FIELDS_EXCEEDED`.
        code: &'static str,
        /// Client-safe message naming the limit.
        message: String,
    },
    /// An introspection operation while `supergraph.introspection` is off.
    #[error("introspection is disabled on this router")]
    IntrospectionDisabled,
    /// The router cannot plan this operation.
    #[error("{0}")]
    PlanningFailed(String),
    /// A request ended by a plugin or script with its own status and code.
    #[error("{message}")]
    Rejected {
        /// HTTP status to answer with.
        status: StatusCode,
        /// `extensions.code`.
        code: String,
        /// Client-safe message.
        message: String,
    },
    /// A persisted query could not be used (unknown id, hash mismatch, safelist).
    #[error("{0}")]
    PersistedQuery(crate::persisted::PersistedQueryError),
    /// A simple (non-preflighted) request without a CSRF-prevention header.
    #[error("this request has been blocked as a potential cross-site request forgery: send it with a `Content-Type` other than text/plain, application/x-www-form-urlencoded or multipart/form-data (such as application/json), or with one of the headers {0}")]
    CsrfPrevention(String),
    /// A batch (JSON array) sent while `http.batching.enabled` is off.
    #[error("batched requests (a JSON array) are not enabled; send one request object")]
    BatchingDisabled,
    /// A batch with more operations than `http.batching.max_size`.
    #[error("the batch has {size} operations, over the limit of {limit}")]
    BatchTooLarge {
        /// Operations in the batch.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The request did not finish within `http.request_timeout`.
    #[error("the request did not complete within {}", humantime_serde::re::humantime::format_duration(*.0))]
    GatewayTimeout(std::time::Duration),
    /// `http.max_concurrent_requests` requests are already being served.
    #[error("the router is serving as many requests as it allows; retry later")]
    Overloaded,
    /// An internal failure; the detail has been logged, the client sees a generic message.
    #[error("Internal server error")]
    Internal,
}

impl ClientError {
    /// The stable `extensions.code` of this error.
    pub fn code(&self) -> &str {
        match self {
            Self::InvalidRequest(_) => "INVALID_GRAPHQL_REQUEST",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::NotAcceptable => "NOT_ACCEPTABLE",
            Self::MethodNotAllowed(_) => "METHOD_NOT_ALLOWED",
            Self::ParseFailed(_) => "GRAPHQL_PARSE_FAILED",
            Self::ValidationFailed(_) => "GRAPHQL_VALIDATION_FAILED",
            Self::UnknownOperationName(_) => "GRAPHQL_UNKNOWN_OPERATION_NAME",
            Self::BadUserInput(_) => "BAD_USER_INPUT",
            Self::Unauthenticated { .. } => "UNAUTHENTICATED",
            Self::LimitExceeded { code, .. } => code,
            Self::IntrospectionDisabled => "INTROSPECTION_DISABLED",
            Self::PlanningFailed(_) => "QUERY_PLANNING_FAILED",
            Self::Rejected { code, .. } => code,
            Self::PersistedQuery(error) => error.code(),
            Self::CsrfPrevention(_) => "CSRF_PREVENTION",
            Self::BatchingDisabled => "BATCHING_NOT_ENABLED",
            Self::BatchTooLarge { .. } => "BATCH_LIMIT_EXCEEDED",
            Self::GatewayTimeout(_) => "GATEWAY_TIMEOUT",
            Self::Overloaded => "SERVICE_OVERLOADED",
            Self::Internal => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The HTTP status, following GraphQL over HTTP: with
    /// `application/graphql-response+json` request errors are 4xx; with the
    /// legacy `application/json` a well-formed request is answered with 200.
    pub fn status(&self, graphql_response_media_type: bool) -> StatusCode {
        let request_error = if graphql_response_media_type {
            StatusCode::BAD_REQUEST
        } else {
            StatusCode::OK
        };
        match self {
            Self::InvalidRequest(_)
            | Self::CsrfPrevention(_)
            | Self::BatchingDisabled
            | Self::BatchTooLarge { .. } => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::NotAcceptable => StatusCode::NOT_ACCEPTABLE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::ParseFailed(_)
            | Self::ValidationFailed(_)
            | Self::UnknownOperationName(_)
            | Self::BadUserInput(_)
            | Self::LimitExceeded { .. }
            | Self::IntrospectionDisabled => request_error,
            Self::Unauthenticated { .. } => StatusCode::UNAUTHORIZED,
            Self::PlanningFailed(_) | Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Rejected { status, .. } => *status,
            Self::PersistedQuery(crate::persisted::PersistedQueryError::Malformed(_)) => {
                StatusCode::BAD_REQUEST
            }
            Self::PersistedQuery(_) => request_error,
            Self::GatewayTimeout(_) => StatusCode::GATEWAY_TIMEOUT,
            Self::Overloaded => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// Extra response headers this error requires.
    pub fn headers(&self) -> Vec<(http::HeaderName, HeaderValue)> {
        match self {
            Self::Unauthenticated {
                www_authenticate, ..
            } => vec![(
                http::header::WWW_AUTHENTICATE,
                HeaderValue::from_static(www_authenticate),
            )],
            Self::MethodNotAllowed(_) => {
                vec![(http::header::ALLOW, HeaderValue::from_static("POST"))]
            }
            Self::Overloaded => vec![(http::header::RETRY_AFTER, HeaderValue::from_static("1"))],
            _ => Vec::new(),
        }
    }

    /// The GraphQL response body for this error (no `data` key: a request error).
    pub fn to_graphql_response(&self) -> GraphqlResponse {
        let code = self.code();
        let errors = match self {
            Self::ParseFailed(errors) | Self::ValidationFailed(errors) => errors
                .iter()
                .cloned()
                .map(|e| e.with_extension("code", code))
                .collect(),
            Self::BadUserInput(error) => vec![(**error).clone().with_extension("code", code)],
            Self::Unauthenticated {
                reason, message, ..
            } => vec![GraphqlError::new(message.clone(), code).with_extension("reason", *reason)],
            other => vec![GraphqlError::new(other.to_string(), code)],
        };
        GraphqlResponse::from_errors(errors)
    }
}

/// Every code a [`ClientError`] can carry (besides plugin-chosen `Rejected` codes),
/// plus the codes the executor puts on field errors. Kept in sync with `docs/errors.md`.
pub const ERROR_CODES: &[&str] = &[
    "INVALID_GRAPHQL_REQUEST",
    "PAYLOAD_TOO_LARGE",
    "UNSUPPORTED_MEDIA_TYPE",
    "NOT_ACCEPTABLE",
    "METHOD_NOT_ALLOWED",
    "GRAPHQL_PARSE_FAILED",
    "GRAPHQL_VALIDATION_FAILED",
    "GRAPHQL_UNKNOWN_OPERATION_NAME",
    "BAD_USER_INPUT",
    "UNAUTHENTICATED",
    "QUERY_PLANNING_FAILED",
    "INTERNAL_SERVER_ERROR",
    "SUBREQUEST_HTTP_ERROR",
    "SUBREQUEST_MALFORMED_RESPONSE",
    "RESPONSE_VALIDATION_FAILED",
    "UNAUTHORIZED_FIELD_OR_TYPE",
    "PERSISTED_QUERY_NOT_FOUND",
    "PERSISTED_QUERY_NOT_SUPPORTED",
    "PERSISTED_QUERY_HASH_MISMATCH",
    "PERSISTED_QUERY_ID_REQUIRED",
    "QUERY_NOT_IN_SAFELIST",
    "MAX_DEPTH_EXCEEDED",
    "MAX_ALIASES_EXCEEDED",
    "MAX_ROOT_FIELDS_EXCEEDED",
    "GATEWAY_TIMEOUT",
    "SERVICE_OVERLOADED",
    "CSRF_PREVENTION",
    "INTROSPECTION_DISABLED",
    "SUBGRAPH_ERROR_REDACTED",
    "BATCHING_NOT_ENABLED",
    "BATCH_LIMIT_EXCEEDED",
];

/// A failure inside the router. Logged with its detail, never shown to clients.
#[derive(Debug, thiserror::Error)]
pub enum InternalError {
    /// A response could not be serialized.
    #[error("serializing the response failed: {0}")]
    Serialize(#[from] serde_json::Error),
    /// A generated subgraph operation could not be built.
    #[error("building the subgraph operation failed: {0}")]
    Operation(String),
}

impl From<InternalError> for ClientError {
    fn from(error: InternalError) -> Self {
        tracing::error!(error = %error, "internal error");
        ClientError::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_errors_are_400_only_for_graphql_response_json() {
        let error = ClientError::ValidationFailed(vec![GraphqlError::new("x", "ignored")]);
        assert_eq!(error.status(true), StatusCode::BAD_REQUEST);
        assert_eq!(error.status(false), StatusCode::OK);
        assert_eq!(
            ClientError::InvalidRequest("bad".into()).status(false),
            StatusCode::BAD_REQUEST
        );
    }

    #[test]
    fn unauthenticated_carries_reason_and_header() {
        let error = ClientError::Unauthenticated {
            reason: "TOKEN_EXPIRED",
            message: "token expired".into(),
            www_authenticate: "Bearer error=\"invalid_token\"",
        };
        let body = serde_json::to_value(error.to_graphql_response()).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"errors":[{"message":"token expired","extensions":{"code":"UNAUTHENTICATED","reason":"TOKEN_EXPIRED"}}]})
        );
        assert_eq!(error.status(false), StatusCode::UNAUTHORIZED);
        assert_eq!(error.headers()[0].0, http::header::WWW_AUTHENTICATE);
    }

    #[test]
    fn internal_errors_hide_detail() {
        let error: ClientError = InternalError::Operation("secret detail".into()).into();
        let body = serde_json::to_string(&error.to_graphql_response()).unwrap();
        assert!(!body.contains("secret"));
        assert!(body.contains("INTERNAL_SERVER_ERROR"));
    }
}
