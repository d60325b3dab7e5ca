# test_compat_settings.py - database settings as immudb 1.9.5 reports and validates them: a new database's
# full settings equal those immudb's GetDatabaseSettingsV2 returned for the same request (captured from a real
# immudb 1.9.5, spec vectors rest/db_settings.json), and every value immudb's option checks refuse is refused
# with InvalidArgument and immudb's message, by CreateDatabaseV2 (nothing is created) and UpdateDatabaseV2
# (nothing changes).
import json

import grpc
import pytest
from google.protobuf import json_format
from immudb.grpc import schema_pb2, schema_pb2_grpc

# settings of a database created with {excludeCommitTime: true} on immudb 1.9.5 (its JSON mapping)
IMMUDB_SETTINGS = json.loads('''{"replicationSettings":{"replica":{},"primaryDatabase":{},"primaryHost":{},"primaryPort":{},"primaryUsername":{},"primaryPassword":{},"syncReplication":{},"syncAcks":{},"prefetchTxBufferSize":{},"replicationCommitConcurrency":{},"allowTxDiscarding":{},"skipIntegrityCheck":{},"waitForIndexing":{}},"fileSize":{"value":536870912},"maxKeyLen":{"value":1024},"maxValueLen":{"value":33554432},"maxTxEntries":{"value":1024},"excludeCommitTime":{"value":true},"maxConcurrency":{"value":30},"maxIOConcurrency":{"value":1},"txLogCacheSize":{"value":1000},"vLogMaxOpenedFiles":{"value":10},"txLogMaxOpenedFiles":{"value":10},"commitLogMaxOpenedFiles":{"value":10},"indexSettings":{"flushThreshold":{"value":100000},"syncThreshold":{"value":1000000},"cacheSize":{"value":134217728},"maxNodeSize":{"value":4096},"maxActiveSnapshots":{"value":100},"renewSnapRootAfter":{"value":"1000"},"compactionThld":{"value":2},"delayDuringCompaction":{"value":10},"nodesLogMaxOpenedFiles":{"value":10},"historyLogMaxOpenedFiles":{"value":1},"commitLogMaxOpenedFiles":{"value":1},"flushBufferSize":{"value":4096},"cleanupPercentage":{},"maxBulkSize":{"value":1},"bulkPreparationTimeout":{"value":"20"}},"writeTxHeaderVersion":{"value":1},"autoload":{"value":true},"readTxPoolSize":{"value":128},"syncFrequency":{"value":"20"},"writeBufferSize":{"value":4194304},"ahtSettings":{"syncThreshold":{"value":100000},"writeBufferSize":{"value":16777216}},"maxActiveTransactions":{"value":1000},"mvccReadSetLimit":{"value":100000},"vLogCacheSize":{},"truncationSettings":{"retentionPeriod":{},"truncationFrequency":{"value":"86400000"}},"embeddedValues":{},"preallocFiles":{}}''')


def admin(sealdb):
    ch = grpc.insecure_channel(sealdb.address)
    stub = schema_pb2_grpc.ImmuServiceStub(ch)
    tok = stub.Login(schema_pb2.LoginRequest(user=b"immudb", password=b"immudb")).token
    return stub, [("authorization", tok)]


def as_json(settings):
    return json.loads(json_format.MessageToJson(settings))


def create(stub, md, name, **settings):
    return stub.CreateDatabaseV2(schema_pb2.CreateDatabaseRequest(
        name=name, settings=json_format.ParseDict(settings, schema_pb2.DatabaseNullableSettings())), metadata=md)


def db_settings(stub, md):
    """{name: settings as JSON} of every database, from DatabaseListV2."""
    return {d.name: as_json(d.settings)
            for d in stub.DatabaseListV2(schema_pb2.DatabaseListRequestV2(), metadata=md).databases}


def test_new_database_settings_equal_immudbs(sealdb):
    stub, md = admin(sealdb)
    resp = create(stub, md, "restvec", excludeCommitTime={"value": True})
    assert as_json(resp.settings) == IMMUDB_SETTINGS
    got = stub.DatabaseListV2(schema_pb2.DatabaseListRequestV2(), metadata=md).databases
    restvec = [d for d in got if d.name == "restvec"][0]
    assert as_json(restvec.settings) == IMMUDB_SETTINGS
    default = [d for d in got if d.name == "defaultdb"][0]
    want = dict(IMMUDB_SETTINGS)
    want["excludeCommitTime"] = {}
    assert as_json(default.settings) == want


STORE = "rpc error: code = InvalidArgument desc = illegal arguments: illegal arguments: invalid options: "
DBOPT = ("rpc error: code = InvalidArgument desc = illegal arguments: "
         "rpc error: code = InvalidArgument desc = illegal arguments: ")

BAD = [
    ({"maxConcurrency": {"value": 0}}, STORE + "invalid MaxConcurrency"),
    ({"maxIOConcurrency": {"value": 0}}, STORE + "invalid MaxIOConcurrency"),
    ({"maxIOConcurrency": {"value": 128}}, STORE + "invalid MaxIOConcurrency"),
    ({"maxIOConcurrency": {"value": 2}, "embeddedValues": {"value": True}}, STORE + "invalid MaxIOConcurrency"),
    ({"txLogCacheSize": {"value": 0}}, STORE + "invalid TxLogCacheSize"),
    ({"writeTxHeaderVersion": {"value": 7}}, STORE + "invalid WriteTxHeaderVersion"),
    ({"writeBufferSize": {"value": 0}}, STORE + "invalid WriteBufferSize"),
    ({"syncFrequency": {"value": "-1"}}, STORE + "invalid SyncFrequency"),
    ({"maxActiveTransactions": {"value": 0}}, STORE + "invalid MaxActiveTransactions"),
    ({"mvccReadSetLimit": {"value": 0}}, STORE + "invalid MVCCReadSetLimit"),
    ({"vLogMaxOpenedFiles": {"value": 0}}, STORE + "invalid VLogMaxOpenedFiles"),
    ({"maxKeyLen": {"value": 1025}}, STORE + "invalid MaxKeyLen"),
    ({"maxValueLen": {"value": 0}}, STORE + "invalid MaxValueLen"),
    ({"maxTxEntries": {"value": 0}}, STORE + "invalid MaxTxEntries"),
    ({"fileSize": {"value": 2147483647}}, STORE + "invalid FileSize"),
    ({"indexSettings": {"cacheSize": {"value": 0}}}, STORE + "invalid index option CacheSize"),
    ({"indexSettings": {"cleanupPercentage": {"value": 101}}}, STORE + "invalid index option CleanupPercentage"),
    ({"indexSettings": {"maxBulkSize": {"value": 0}}}, STORE + "invalid MaxBulkSize"),
    ({"ahtSettings": {"syncThreshold": {"value": 0}}}, STORE + "invalid AHT option SyncThld"),
    ({"readTxPoolSize": {"value": 0}}, DBOPT + "invalid read tx pool size (0) for database 'baddb'"),
    ({"truncationSettings": {"retentionPeriod": {"value": "3600000"}}},
     DBOPT + "invalid retention period for database 'baddb'. RetentionPeriod should at least '24' hours"),
    ({"truncationSettings": {"truncationFrequency": {"value": "60000"}}},
     DBOPT + "invalid truncation frequency for database 'baddb'. TruncationFrequency should at least '1' hour"),
    ({"replicationSettings": {"primaryHost": {"value": "h"}}},
     DBOPT + "invalid value for replication option PrimaryHost on primary database 'baddb'"),
    ({"replicationSettings": {"syncAcks": {"value": 1}}},
     DBOPT + "invalid replication options for primary database 'baddb'. SyncAcks should be set to 0"),
]


@pytest.mark.parametrize("settings,message", BAD, ids=[m.rsplit(": ", 1)[-1][:40] for _, m in BAD])
def test_invalid_settings_refused_like_immudb(sealdb, settings, message):
    stub, md = admin(sealdb)
    with pytest.raises(grpc.RpcError) as e:
        create(stub, md, "baddb", **settings)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details() == message
    assert "baddb" not in db_settings(stub, md)
    # the same values refused on an existing database, whose settings stay as they were
    create(stub, md, "gooddb")
    before = db_settings(stub, md)["gooddb"]
    perm = {"maxKeyLen", "maxValueLen", "maxTxEntries", "fileSize", "embeddedValues"}
    if not perm & set(settings):
        with pytest.raises(grpc.RpcError) as e:
            stub.UpdateDatabaseV2(schema_pb2.UpdateDatabaseRequest(
                database="gooddb", settings=json_format.ParseDict(settings, schema_pb2.DatabaseNullableSettings())),
                metadata=md)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert e.value.details() == message.replace("'baddb'", "'gooddb'")
    assert db_settings(stub, md)["gooddb"] == before
