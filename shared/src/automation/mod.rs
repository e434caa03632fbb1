//! WhatsApp HSM automation (not built yet; this is its place): triggers and due items
//! (`triggers`, `due`), the at-most-once send protocol (`send`), the YCloud client (`ycloud`),
//! delivery webhooks, logs and rules. It may import every folder below it (platform, domain,
//! store, marketing, events) and `meta` for nothing.
