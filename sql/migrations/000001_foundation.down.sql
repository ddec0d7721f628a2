DROP TABLE provisioning_requests;
DROP TABLE import_files;
DROP TABLE products;
DROP TABLE installed_items;
DROP TABLE subscriptions;
