//! See docs/kernel_api.md: this family's launchers (work in progress on its branch).
