//! imgd's C ABI over ScyllaDB's Rust driver (`scylla`), for the Cassandra MetaStore.
//!
//! Thin on purpose: a session (with the tokio runtime it runs on), prepared statements, and
//! one execute call with typed values in and typed rows out. Every call blocks the calling
//! thread (imgd calls from its blocking pool, as it does libpq) on the session's runtime.
//! The contract of each function is in `../cql_shim.h`; nothing here panics across the
//! boundary (every entry point catches unwinds and reports them as errors).
use std::ffi::{c_char, CStr, CString};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::frame::response::result::{ColumnType, NativeType};
use scylla::errors::{DbError, ExecutionError, RequestAttemptError};
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::response::{PagingState, PagingStateResponse};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};
use scylla::value::{CqlValue, Row};

/// Error kinds (the header's IMGD_CQL_ERR_*).
const OK: i32 = 0;
/// The cluster could not be reached or could not answer (down, timeout, not enough replicas).
const ERR_UNAVAILABLE: i32 = 1;
/// The cluster answered with an error about the request itself (a bug, not an outage).
const ERR_REQUEST: i32 = 2;

/// Value types (the header's IMGD_CQL_*).
const T_NULL: i32 = 0;
const T_TEXT: i32 = 1;
const T_BIGINT: i32 = 2;
const T_INT: i32 = 3;
const T_BOOL: i32 = 4;
const T_TEXT_LIST: i32 = 5;

#[repr(C)]
pub struct ImgdCqlValue {
    pub kind: i32,
    pub int_value: i64,
    /// TEXT: UTF-8 bytes (not NUL-terminated); TEXT_LIST: an array of `len` ImgdCqlValue.
    pub data: *const u8,
    pub len: usize,
}

pub struct ImgdCql {
    runtime: tokio::runtime::Runtime,
    session: Session,
}

pub struct ImgdCqlPrepared {
    statement: PreparedStatement,
}

/// One page of rows, converted once into owned values the C side reads in place.
pub struct ImgdCqlResult {
    columns: usize,
    names: Vec<String>,
    cells: Vec<Option<CqlValue>>,
    paging_state: Vec<u8>,
    has_more: bool,
}

fn set_error(err: *mut *mut c_char, msg: String) {
    if err.is_null() {
        return;
    }
    let clean = msg.replace('\0', " ");
    unsafe { *err = CString::new(clean).unwrap_or_default().into_raw() };
}

fn guarded(err: *mut *mut c_char, f: impl FnOnce() -> Result<(), (i32, String)>) -> i32 {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(Ok(())) => OK,
        Ok(Err((kind, msg))) => {
            set_error(err, msg);
            kind
        }
        Err(_) => {
            set_error(err, "cql shim: internal panic".to_string());
            ERR_REQUEST
        }
    }
}

fn classify(e: &ExecutionError) -> i32 {
    match e {
        ExecutionError::LastAttemptError(RequestAttemptError::DbError(db, _)) => match db {
            DbError::SyntaxError
            | DbError::Invalid
            | DbError::AlreadyExists { .. }
            | DbError::Unauthorized
            | DbError::ConfigError
            | DbError::FunctionFailure { .. } => ERR_REQUEST,
            _ => ERR_UNAVAILABLE,
        },
        ExecutionError::BadQuery(_) => ERR_REQUEST,
        _ => ERR_UNAVAILABLE,
    }
}

unsafe fn c_str<'a>(p: *const c_char) -> Result<&'a str, (i32, String)> {
    if p.is_null() {
        return Err((ERR_REQUEST, "null string".to_string()));
    }
    CStr::from_ptr(p)
        .to_str()
        .map_err(|_| (ERR_REQUEST, "string is not UTF-8".to_string()))
}

unsafe fn bytes<'a>(p: *const u8, len: usize) -> &'a [u8] {
    if len == 0 {
        &[]
    } else {
        std::slice::from_raw_parts(p, len)
    }
}

unsafe fn to_cql(v: &ImgdCqlValue) -> Result<Option<CqlValue>, (i32, String)> {
    let text = |p: *const u8, len: usize| {
        std::str::from_utf8(bytes(p, len))
            .map(|s| CqlValue::Text(s.to_string()))
            .map_err(|_| (ERR_REQUEST, "text value is not UTF-8".to_string()))
    };
    Ok(match v.kind {
        T_NULL => None,
        T_TEXT => Some(text(v.data, v.len)?),
        T_BIGINT => Some(CqlValue::BigInt(v.int_value)),
        T_INT => Some(CqlValue::Int(v.int_value as i32)),
        T_BOOL => Some(CqlValue::Boolean(v.int_value != 0)),
        T_TEXT_LIST => {
            let items = if v.len == 0 {
                &[][..]
            } else {
                std::slice::from_raw_parts(v.data as *const ImgdCqlValue, v.len)
            };
            let mut list = Vec::with_capacity(items.len());
            for item in items {
                list.push(text(item.data, item.len)?);
            }
            Some(CqlValue::List(list))
        }
        k => return Err((ERR_REQUEST, format!("unknown value kind {k}"))),
    })
}

fn consistency(c: i32) -> Result<Consistency, (i32, String)> {
    Ok(match c {
        1 => Consistency::One,
        4 => Consistency::Quorum,
        5 => Consistency::All,
        6 => Consistency::LocalQuorum,
        7 => Consistency::EachQuorum,
        10 => Consistency::LocalOne,
        _ => return Err((ERR_REQUEST, format!("unsupported consistency {c}"))),
    })
}

fn serial(c: i32) -> Result<Option<SerialConsistency>, (i32, String)> {
    Ok(match c {
        0 => None,
        8 => Some(SerialConsistency::Serial),
        9 => Some(SerialConsistency::LocalSerial),
        _ => return Err((ERR_REQUEST, format!("unsupported serial consistency {c}"))),
    })
}

/// Connects to the cluster through `hosts` ("h1:9042,h2:9042"), preferring `local_dc`
/// (no failover to other datacenters: a LOCAL_* request must stay local).
#[no_mangle]
pub unsafe extern "C" fn imgd_cql_connect(
    hosts: *const c_char,
    local_dc: *const c_char,
    user: *const c_char,
    password: *const c_char,
    request_timeout_ms: i64,
    connect_timeout_ms: i64,
    out: *mut *mut ImgdCql,
    err: *mut *mut c_char,
) -> i32 {
    guarded(err, || {
        let hosts = c_str(hosts)?;
        let local_dc = c_str(local_dc)?.to_string();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("imgd-cql")
            .enable_all()
            .build()
            .map_err(|e| (ERR_REQUEST, format!("runtime: {e}")))?;
        let policy = DefaultPolicy::builder()
            .prefer_datacenter(local_dc)
            .permit_dc_failover(false)
            .token_aware(true)
            .build();
        let profile = ExecutionProfile::builder()
            .load_balancing_policy(policy)
            .consistency(Consistency::LocalQuorum)
            .serial_consistency(Some(SerialConsistency::LocalSerial))
            .request_timeout(Some(Duration::from_millis(request_timeout_ms.max(1) as u64)))
            .build();
        let mut builder = SessionBuilder::new()
            .known_nodes(hosts.split(',').map(str::trim).filter(|h| !h.is_empty()))
            .connection_timeout(Duration::from_millis(connect_timeout_ms.max(1) as u64))
            .schema_agreement_timeout(Duration::from_secs(30))
            .default_execution_profile_handle(profile.into_handle());
        if !user.is_null() && !c_str(user)?.is_empty() {
            let password = if password.is_null() { "" } else { c_str(password)? };
            builder = builder.user(c_str(user)?, password);
        }
        let session = runtime
            .block_on(builder.build())
            .map_err(|e| (ERR_UNAVAILABLE, format!("connect {hosts}: {e}")))?;
        // The session is built once one node answered; the nodes of the local datacenter may
        // still be joining its view (a cluster that just started): until one can take a
        // query, every statement would fail with an empty plan. Wait for that, up to the
        // connect timeout.
        let deadline = std::time::Instant::now()
            + Duration::from_millis(connect_timeout_ms.max(1) as u64);
        loop {
            let probe = runtime
                .block_on(session.query_unpaged("SELECT release_version FROM system.local", ()));
            match probe {
                Ok(_) => break,
                Err(e) if std::time::Instant::now() < deadline => {
                    let _ = e;
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err((ERR_UNAVAILABLE, format!("connect {hosts}: {e}"))),
            }
        }
        *out = Box::into_raw(Box::new(ImgdCql { runtime, session }));
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn imgd_cql_close(cql: *mut ImgdCql) {
    if !cql.is_null() {
        let cql = Box::from_raw(cql);
        let ImgdCql { runtime, session } = *cql;
        // The session's connections close inside its runtime.
        runtime.block_on(async move { drop(session) });
        runtime.shutdown_timeout(Duration::from_secs(2));
    }
}

#[no_mangle]
pub unsafe extern "C" fn imgd_cql_prepare(
    cql: *mut ImgdCql,
    statement: *const c_char,
    out: *mut *mut ImgdCqlPrepared,
    err: *mut *mut c_char,
) -> i32 {
    guarded(err, || {
        let cql = &*cql;
        let text = c_str(statement)?;
        let statement = cql
            .runtime
            .block_on(cql.session.prepare(text))
            .map_err(|e| {
                let kind = if e.to_string().contains("SyntaxError")
                    || e.to_string().contains("Invalid")
                {
                    ERR_REQUEST
                } else {
                    ERR_UNAVAILABLE
                };
                (kind, format!("prepare: {e}"))
            })?;
        *out = Box::into_raw(Box::new(ImgdCqlPrepared { statement }));
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn imgd_cql_prepared_free(p: *mut ImgdCqlPrepared) {
    if !p.is_null() {
        drop(Box::from_raw(p));
    }
}

/// Runs a prepared statement with `n` values. page_size > 0 reads one page from
/// `paging_state` (empty: the first); otherwise every row at once.
#[no_mangle]
pub unsafe extern "C" fn imgd_cql_execute(
    cql: *mut ImgdCql,
    prepared: *const ImgdCqlPrepared,
    values: *const ImgdCqlValue,
    n: usize,
    consistency_level: i32,
    serial_consistency: i32,
    idempotent: i32,
    page_size: i32,
    paging_state: *const u8,
    paging_state_len: usize,
    out: *mut *mut ImgdCqlResult,
    err: *mut *mut c_char,
) -> i32 {
    guarded(err, || {
        let cql = &*cql;
        let mut statement = (*prepared).statement.clone();
        statement.set_consistency(consistency(consistency_level)?);
        statement.set_serial_consistency(serial(serial_consistency)?);
        statement.set_is_idempotent(idempotent != 0);
        let values = if n == 0 {
            &[][..]
        } else {
            std::slice::from_raw_parts(values, n)
        };
        // Integers are bound as the marker's type (LIMIT takes an int, columns a bigint).
        let specs = statement.get_variable_col_specs();
        let mut row = Vec::with_capacity(values.len());
        for (i, v) in values.iter().enumerate() {
            let mut value = to_cql(v)?;
            if let (Some(CqlValue::BigInt(n)), Some(spec)) = (&value, specs.get_by_index(i)) {
                if matches!(spec.typ(), ColumnType::Native(NativeType::Int)) {
                    let n = i32::try_from(*n)
                        .map_err(|_| (ERR_REQUEST, format!("value {n} does not fit an int")))?;
                    value = Some(CqlValue::Int(n));
                }
            }
            row.push(value);
        }
        let (result, paging) = if page_size > 0 {
            statement.set_page_size(page_size);
            let state = if paging_state_len == 0 {
                PagingState::start()
            } else {
                PagingState::new_from_raw_bytes(bytes(paging_state, paging_state_len).to_vec())
            };
            let (r, p) = cql
                .runtime
                .block_on(cql.session.execute_single_page(&statement, &row, state))
                .map_err(|e| (classify(&e), e.to_string()))?;
            (r, Some(p))
        } else {
            let r = cql
                .runtime
                .block_on(cql.session.execute_unpaged(&statement, &row))
                .map_err(|e| (classify(&e), e.to_string()))?;
            (r, None)
        };
        let mut converted = ImgdCqlResult {
            columns: 0,
            names: Vec::new(),
            cells: Vec::new(),
            paging_state: Vec::new(),
            has_more: false,
        };
        if let Some(PagingStateResponse::HasMorePages { state }) = paging {
            converted.has_more = true;
            if let Some(raw) = state.as_bytes_slice() {
                converted.paging_state = raw.to_vec();
            }
        }
        if result.is_rows() {
            let rows = result
                .into_rows_result()
                .map_err(|e| (ERR_REQUEST, format!("rows: {e}")))?;
            converted.columns = rows.column_specs().len();
            converted.names = rows
                .column_specs()
                .iter()
                .map(|c| c.name().to_string())
                .collect();
            for r in rows
                .rows::<Row>()
                .map_err(|e| (ERR_REQUEST, format!("rows: {e}")))?
            {
                let r = r.map_err(|e| (ERR_REQUEST, format!("row: {e}")))?;
                converted.cells.extend(r.columns);
            }
        }
        *out = Box::into_raw(Box::new(converted));
        Ok(())
    })
}

/// Runs a statement text unprepared (schema changes), at `consistency_level`.
#[no_mangle]
pub unsafe extern "C" fn imgd_cql_query(
    cql: *mut ImgdCql,
    statement: *const c_char,
    err: *mut *mut c_char,
) -> i32 {
    guarded(err, || {
        let cql = &*cql;
        let text = c_str(statement)?;
        cql.runtime
            .block_on(cql.session.query_unpaged(text, ()))
            .map_err(|e| (classify(&e), e.to_string()))?;
        Ok(())
    })
}

/// Waits until every reachable node has the same schema version.
#[no_mangle]
pub unsafe extern "C" fn imgd_cql_await_schema_agreement(
    cql: *mut ImgdCql,
    err: *mut *mut c_char,
) -> i32 {
    guarded(err, || {
        let cql = &*cql;
        cql.runtime
            .block_on(cql.session.await_schema_agreement())
            .map_err(|e| (ERR_UNAVAILABLE, format!("schema agreement: {e}")))?;
        Ok(())
    })
}

#[no_mangle]
pub unsafe extern "C" fn imgd_cql_result_rows(r: *const ImgdCqlResult) -> usize {
    let r = &*r;
    if r.columns == 0 {
        0
    } else {
        r.cells.len() / r.columns
    }
}

#[no_mangle]
pub unsafe extern "C" fn imgd_cql_result_columns(r: *const ImgdCqlResult) -> usize {
    (*r).columns
}

/// The name of a column ("[applied]" first for a lightweight transaction).
#[no_mangle]
pub unsafe extern "C" fn imgd_cql_result_column_name(
    r: *const ImgdCqlResult,
    column: usize,
    data: *mut *const u8,
    len: *mut usize,
) {
    let r = &*r;
    let name = r.names.get(column).map(String::as_str).unwrap_or("");
    *data = name.as_ptr();
    *len = name.len();
}

/// The cell at (row, column); TEXT data points into the result and lives as long as it.
/// Types other than those listed in the header come back as IMGD_CQL_NULL.
#[no_mangle]
pub unsafe extern "C" fn imgd_cql_result_value(
    r: *const ImgdCqlResult,
    row: usize,
    column: usize,
    out: *mut ImgdCqlValue,
) {
    let r = &*r;
    let out = &mut *out;
    *out = ImgdCqlValue {
        kind: T_NULL,
        int_value: 0,
        data: std::ptr::null(),
        len: 0,
    };
    let Some(Some(cell)) = r.cells.get(row * r.columns + column) else {
        return;
    };
    match cell {
        CqlValue::Text(s) | CqlValue::Ascii(s) => {
            out.kind = T_TEXT;
            out.data = s.as_ptr();
            out.len = s.len();
        }
        CqlValue::Blob(b) => {
            out.kind = T_TEXT;
            out.data = b.as_ptr();
            out.len = b.len();
        }
        CqlValue::BigInt(i) => {
            out.kind = T_BIGINT;
            out.int_value = *i;
        }
        CqlValue::Counter(c) => {
            out.kind = T_BIGINT;
            out.int_value = c.0;
        }
        CqlValue::Int(i) => {
            out.kind = T_INT;
            out.int_value = *i as i64;
        }
        CqlValue::Boolean(b) => {
            out.kind = T_BOOL;
            out.int_value = *b as i64;
        }
        CqlValue::Timestamp(t) => {
            out.kind = T_BIGINT;
            out.int_value = t.0;
        }
        _ => {}
    }
}

/// Whether more pages follow, and the state to pass for the next one.
#[no_mangle]
pub unsafe extern "C" fn imgd_cql_result_paging_state(
    r: *const ImgdCqlResult,
    data: *mut *const u8,
    len: *mut usize,
) -> i32 {
    let r = &*r;
    *data = r.paging_state.as_ptr();
    *len = r.paging_state.len();
    r.has_more as i32
}

#[no_mangle]
pub unsafe extern "C" fn imgd_cql_result_free(r: *mut ImgdCqlResult) {
    if !r.is_null() {
        drop(Box::from_raw(r));
    }
}

#[no_mangle]
pub unsafe extern "C" fn imgd_cql_string_free(s: *mut c_char) {
    if !s.is_null() {
        drop(CString::from_raw(s));
    }
}
