//! Glue for Rust types that pgrx does not derive: values the extension
//! converts itself (its token storage, its context parsing, its zeroized
//! results) but that are, in SQL, an existing type or one declared by
//! `#[derive(PostgresType)]`.

/// Implements pgrx's argument traits (`UnboxDatum`, `ArgAbi`) for a type
/// through its own `FromDatum`.
macro_rules! argument_from_datum {
    ($t:ty) => {
        unsafe impl pgrx::datum::UnboxDatum for $t {
            type As<'dat>
                = Self
            where
                Self: 'dat;
            unsafe fn unbox<'dat>(datum: pgrx::datum::Datum<'dat>) -> Self::As<'dat>
            where
                Self: 'dat,
            {
                // SAFETY: called by pgrx for a non-null datum of this type.
                unsafe {
                    <Self as pgrx::datum::FromDatum>::from_datum(
                        std::mem::transmute::<pgrx::datum::Datum<'dat>, pgrx::pg_sys::Datum>(datum),
                        false,
                    )
                }
                .expect("a non-null datum")
            }
        }

        unsafe impl<'fcx> pgrx::callconv::ArgAbi<'fcx> for $t {
            unsafe fn unbox_arg_unchecked(arg: pgrx::callconv::Arg<'_, 'fcx>) -> Self {
                let index = arg.index();
                // SAFETY: pgrx calls this for an argument of this type.
                unsafe { arg.unbox_arg_using_from_datum() }
                    .unwrap_or_else(|| panic!("argument {index} must not be null"))
            }
        }
    };
}

/// Declares that a Rust type is, in SQL, exactly the type of another.
macro_rules! same_sql_type_as {
    ($t:ty, $sql:ty) => {
        unsafe impl pgrx::pgrx_sql_entity_graph::metadata::SqlTranslatable for $t {
            const TYPE_IDENT: &'static str =
                <$sql as pgrx::pgrx_sql_entity_graph::metadata::SqlTranslatable>::TYPE_IDENT;
            const TYPE_ORIGIN: pgrx::pgrx_sql_entity_graph::metadata::TypeOrigin =
                <$sql as pgrx::pgrx_sql_entity_graph::metadata::SqlTranslatable>::TYPE_ORIGIN;
            const ARGUMENT_SQL: Result<
                pgrx::pgrx_sql_entity_graph::metadata::SqlMappingRef,
                pgrx::pgrx_sql_entity_graph::metadata::ArgumentError,
            > = <$sql as pgrx::pgrx_sql_entity_graph::metadata::SqlTranslatable>::ARGUMENT_SQL;
            const RETURN_SQL: Result<
                pgrx::pgrx_sql_entity_graph::metadata::ReturnsRef,
                pgrx::pgrx_sql_entity_graph::metadata::ReturnsError,
            > = <$sql as pgrx::pgrx_sql_entity_graph::metadata::SqlTranslatable>::RETURN_SQL;
        }
    };
}

pub(crate) use argument_from_datum;
pub(crate) use same_sql_type_as;
