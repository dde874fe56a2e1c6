/** The product version, reported by the API and `rebound --version`. */
export const VERSION = '0.1.0';
