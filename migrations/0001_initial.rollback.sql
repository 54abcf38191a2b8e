-- Drops everything 0001_initial made.
DROP TABLE referrer_week_totals;
DROP TABLE referrer_totals;
DROP TABLE user_week_totals;
DROP TABLE user_totals;
DROP TABLE rates;
DROP TABLE settings;
DROP TABLE donations;
DROP TABLE payments;
DROP TABLE invoices;
DROP TABLE users;
