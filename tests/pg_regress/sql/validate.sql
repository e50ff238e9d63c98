-- rbac.validate runs a Permify validation file in isolation.
BEGIN;
SELECT * FROM rbac.validate($yaml$
schema: |-
  entity user {}
  entity organization {
      relation admin @user
      relation member @user
  }
  entity repository {
      relation parent @organization
      relation owner @user
      attribute is_public boolean
      permission push = owner
      permission read = owner or parent.admin or parent.member or is_public
      permission delete = parent.admin or owner
  }
relationships:
  - "organization:1#admin@user:1"
  - "organization:1#member@user:2"
  - "repository:1#parent@organization:1"
  - "repository:2#owner@user:3"
attributes:
  - "repository:2$is_public|boolean:true"
scenarios:
  - name: "repositories"
    checks:
      - entity: "repository:1"
        subject: "user:1"
        assertions:
          push: false
          read: true
          delete: true
      - entity: "repository:1"
        subject: "user:4"
        context:
          tuples:
            - "repository:1#owner@user:4"
        assertions:
          push: true
      - entity: "repository:1"
        subject: "user:1"
        assertions:
          push: true
    entity_filters:
      - entity_type: "repository"
        subject: "user:2"
        assertions:
          read: ["1", "2"]
    subject_filters:
      - subject_reference: "user"
        entity: "repository:1"
        assertions:
          read: ["1", "2"]
          delete: ["1"]
$yaml$);

-- It neither read nor changed the database's own schema and tuples.
SELECT count(*) AS schemas, (SELECT count(*) FROM rbac.tuples) AS tuples FROM rbac.schemas;

-- Invalid files are errors.
SELECT try($$SELECT * FROM rbac.validate('schema: [unclosed')$$);
SELECT try($$SELECT * FROM rbac.validate('schema: "entity user {} entity doc { relation x @nope }"')$$);
SELECT try($$SELECT * FROM rbac.validate(E'schema: "entity user {}"\nrelationships:\n  - "doc:1#x@user:1"')$$);
ROLLBACK;
