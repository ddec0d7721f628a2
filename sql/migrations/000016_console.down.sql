DROP TABLE console_sessions;
DROP TABLE operators;
