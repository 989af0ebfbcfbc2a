"""Citizen-attention domain rules shared by the IVR and the attention store.

Pure (values in, answers out), importing nothing else from the product:
`cedula` (Uruguay's identity-document check digit) and `calendar` (business
hours, Uruguay's national holidays, a centre's extra closed or open days).
Both the IVR (what the caller may key, when the line answers) and the store
(person registry, ticket service levels) apply the very same rules.
"""
