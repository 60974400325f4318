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
