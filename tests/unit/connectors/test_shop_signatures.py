"""The connectors' request signatures against the platforms' published examples
(docs/EXTERNAL_APIS.md sections 1.3 and 2.2)."""
from connectors.shops import jd, taobao

TOP_VECTOR = {"app_key": "12345678", "fields": "num_iid,title,nick,price,num", "format": "json",
              "method": "taobao.item.seller.get", "num_iid": "11223344", "session": "test", "sign_method": "md5",
              "timestamp": "2016-01-01 12:00:00", "v": "2.0"}
JOS_VECTOR = {"360buy_param_json": '{"end_date":null,"optional_fields":null,"order_state":"WAIT_SELLER_STOCK_OUT",'
                                   '"page":"1","page_size":"200","start_date":null}',
              "access_token": "yourtoken", "app_key": "yourappkey", "method": "jingdong.pop.order.search",
              "timestamp": "2021-05-07 09:20:39.683+0800", "v": "2.0"}


def test_taobao_signature_matches_the_published_example():
    assert taobao.sign(TOP_VECTOR, "helloworld") == "66987CB115214E59E6EC978214934FB8"


def test_taobao_signature_with_a_wrong_secret_differs_and_empty_params_are_skipped():
    assert taobao.sign(TOP_VECTOR, "not-the-secret") != "66987CB115214E59E6EC978214934FB8"
    assert taobao.sign({**TOP_VECTOR, "partner_id": ""}, "helloworld") == "66987CB115214E59E6EC978214934FB8"


def test_jd_signature_matches_the_published_example():
    assert jd.sign(JOS_VECTOR, "yourappSecret") == "D70825340F4084360B9362B60DFD7930"


def test_jd_signature_with_a_wrong_secret_differs_and_the_sign_itself_is_not_signed():
    assert jd.sign(JOS_VECTOR, "wrong") != "D70825340F4084360B9362B60DFD7930"
    assert jd.sign({**JOS_VECTOR, "sign": "X"}, "yourappSecret") == "D70825340F4084360B9362B60DFD7930"
