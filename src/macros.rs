//! Macros the layers share (tower-http's pattern).

/// The inner-service accessors every layer's service offers, written once:
/// `get_ref`, `get_mut` and `into_inner` over a field named `inner`. Used
/// inside the service's `impl<S> Foo<S>` block.
macro_rules! inner_service_accessors {
    () => {
        /// The inner service.
        pub fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably.
        pub fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service.
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

/// What every error of a call carries, written once: the request it names
/// (`request`) and the retry layer's report (`retries`, and the
/// crate's `set_retries`), over fields named `request` and `retries`.
/// Used inside the error type's `impl` block.
macro_rules! call_error_accessors {
    () => {
        /// The request: method and redacted URI, when a layer recorded it.
        pub fn request(&self) -> Option<&crate::redact::RequestContext> {
            self.request.as_deref()
        }

        /// Attempts sent and time waited, as the retry layer above
        /// reports them.
        pub fn retries(&self) -> crate::RetryReport {
            self.retries
        }

        pub(crate) fn set_retries(&mut self, retries: crate::RetryReport) {
            self.retries = retries;
        }
    };
}

/// Getters that hand out a field as it is, written once: each
/// `vis fn name -> Type;`, with its docs, becomes
/// `vis fn name(&self) -> Type { self.name }` (a `Copy` field, or a
/// reference the struct holds). A getter that reads more than its
/// namesake field gives the rest after `self.` in braces:
/// `vis fn name -> Type { inner.field.as_deref() }` reads
/// `self.inner.field.as_deref()`, and `{ &inner.field }` borrows
/// `&self.inner.field`. Used inside the type's `impl` block.
macro_rules! field_getters {
    ($($(#[$attr:meta])* $vis:vis fn $name:ident -> $ty:ty $({ $($read:tt)* })? $(;)?)*) => {
        $(
            $(#[$attr])*
            $vis fn $name(&self) -> $ty {
                field_getters!(@read self $name $($($read)*)?)
            }
        )*
    };
    (@read $self:ident $name:ident) => {
        $self.$name
    };
    (@read $self:ident $name:ident & $($read:tt)*) => {
        &$self.$($read)*
    };
    (@read $self:ident $name:ident $($read:tt)*) => {
        $self.$($read)*
    };
}

/// The `poll_ready` every layer's service offers, written once: the inner
/// service's readiness, its error made ours (an error of this crate passes
/// through as it is). Used inside the service's `impl Service` block.
macro_rules! poll_inner_ready {
    () => {
        fn poll_ready(
            &mut self,
            cx: &mut std::task::Context<'_>,
        ) -> std::task::Poll<Result<(), Self::Error>> {
            self.inner
                .poll_ready(cx)
                .map_err(|error| crate::Error::from_inner(error, None))
        }
    };
}

/// A `Debug` that shows the fields listed, written once (values a derive
/// cannot give: a redacted URI, a count, a flag):
/// `debug_fields!([S: Debug] Retry<S> (&self) { inner: self.inner })`
/// writes `impl<S: Debug> Debug for Retry<S>`, printing
/// `Retry { inner: .. }`; a list that ends in `..` prints
/// `Retry { inner: .., .. }` (`finish_non_exhaustive`). The `(&self)` names
/// the receiver the values read (a macro's own `self` would not be theirs).
macro_rules! debug_fields {
    (@impl [$($generics:tt)*] $name:ident [$($params:tt)*] ($this:ident) $finish:ident $($field:ident: $value:expr),*) => {
        impl<$($generics)*> std::fmt::Debug for $name $($params)* {
            fn fmt(&$this, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($name))
                    $(.field(stringify!($field), &$value))*
                    .$finish()
            }
        }
    };
    ([$($generics:tt)*] $name:ident $(<$($param:tt),*>)? (&$this:ident) { $($field:ident: $value:expr),* $(,)? }) => {
        debug_fields!(@impl [$($generics)*] $name [$(<$($param),*>)?] ($this) finish $($field: $value),*);
    };
    ([$($generics:tt)*] $name:ident $(<$($param:tt),*>)? (&$this:ident) { $($field:ident: $value:expr,)* .. }) => {
        debug_fields!(@impl [$($generics)*] $name [$(<$($param),*>)?] ($this) finish_non_exhaustive $($field: $value),*);
    };
}

/// A `Debug` that names the type and nothing more, written once (futures
/// and bodies whose state is not worth showing):
/// `opaque_debug!([F, B] PeekFuture<F, B>)` writes
/// `impl<F, B> Debug for PeekFuture<F, B>`, printing `PeekFuture { .. }`.
macro_rules! opaque_debug {
    ([$($generics:tt)*] $name:ident $($params:tt)*) => {
        debug_fields!(@impl [$($generics)*] $name [$($params)*] (self) finish_non_exhaustive);
    };
}

/// A `Display` that writes the type's `as_str()`, written once:
/// `display_as_str!(ErrorKind)`.
macro_rules! display_as_str {
    ($($name:ty),*) => {
        $(impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        })*
    };
}

/// A `Default` that is the type's `new()`, written once:
/// `default_from_new!(QuotaLayer)`.
macro_rules! default_from_new {
    ($name:ty) => {
        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }
    };
}

/// The `Layer` of a layer whose services share its options (an `Arc`
/// field named `config`), written once: `layer_from_config!(QuotaLayer =>
/// Quota)` makes each service with `Quota::from_config(inner, config)`.
macro_rules! layer_from_config {
    ($layer:ident => $service:ident) => {
        impl<S> tower::Layer<S> for $layer {
            type Service = $service<S>;

            fn layer(&self, inner: S) -> Self::Service {
                $service::from_config(inner, self.config.clone())
            }
        }
    };
}

/// The builder setters of a layer whose options sit behind an `Arc`, copied
/// on write, written once: after the path of that field (`config;`,
/// `config.failure;`), each
/// `vis fn name(args) |config| change;`, with its docs, becomes
/// `vis fn name(mut self, args) -> Self`, which makes `change` to the
/// field's own copy (`Arc::make_mut`, bound to `config`) and returns
/// `self`; after `self;`, the change is made to the builder itself (its
/// options held in place, not shared). A setter that takes a closure
/// names its type, as a generic would:
/// `vis fn name<F: Fn(&Request<'_>) -> Out>(f: F) |config| change;`.
/// Used inside the builder's `impl` block.
macro_rules! config_setters {
    (self; $($(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) |$config:ident| $change:expr;)*) => {
        $(
            $(#[$attr])*
            $vis fn $name(mut self, $($arg: $ty),*) -> Self {
                let $config = &mut self;
                $change;
                self
            }
        )*
    };
    ($($field:ident).+;) => {};
    // A setter that takes a closure,
    // `vis fn name<F: Fn(Args) -> Out, K: Bound>(f: F) |config| change;`:
    // `F` is also `Send + Sync + 'static` (the options are shared across
    // threads), and other generics follow it with their bounds.
    ($($field:ident).+; $(#[$attr:meta])* $vis:vis fn $name:ident<F: Fn($($input:ty),*) $(-> $output:ty)? $(, $generic:ident: $bound:path)*>($f:ident: F) |$config:ident| $change:expr; $($rest:tt)*) => {
        $(#[$attr])*
        $vis fn $name<F $(, $generic)*>(mut self, $f: F) -> Self
        where
            F: Fn($($input),*) $(-> $output)? + Send + Sync + 'static,
            $($generic: $bound,)*
        {
            let $config = std::sync::Arc::make_mut(&mut self$(.$field)+);
            $change;
            self
        }
        config_setters!($($field).+; $($rest)*);
    };
    // One setter at a time: the field's path repeats in each.
    ($($field:ident).+; $(#[$attr:meta])* $vis:vis fn $name:ident($($arg:ident: $ty:ty),*) |$config:ident| $change:expr; $($rest:tt)*) => {
        $(#[$attr])*
        $vis fn $name(mut self, $($arg: $ty),*) -> Self {
            let $config = std::sync::Arc::make_mut(&mut self$(.$field)+);
            $change;
            self
        }
        config_setters!($($field).+; $($rest)*);
    };
}
