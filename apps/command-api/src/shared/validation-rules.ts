/** Identifiers: they end up in logs, headers and URLs, so printable and without surrounding spaces. */
export const IDENTIFIER = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
export const IDENTIFIER_MESSAGE = '$property must be letters, digits and . _ : - (starting with a letter or digit)';

/** Free text: anything but control characters, not blank. */
export const TEXT = /^(?=.*\S)[^\p{Cc}]+$/u;
export const TEXT_MESSAGE = '$property must be non-blank text without control characters';
