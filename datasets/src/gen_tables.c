/*
 * gen_tables.c — the generator's reference tables: HS headings with their
 * tariff lines, bilingual goods descriptions, value and mass norms, duty rates
 * and risk offsets; origin countries with MRA partnership and AEO code format;
 * customs offices; currencies. Pure data, no behaviour beyond two look-ups.
 *
 * Figures are plausible orders of magnitude chosen for realism of structure,
 * not statistics; datasets/README.md lists what each column means.
 */
#include <string.h>

#include "gen_internal.h"

/* hs4, tariff lines, English, Chinese, numbers for '#',
 * w_import, w_export, usd/kg, sd, mass kg, sd, unit kg, duty, risk, mode */
const gen_product gen_products[] = {
    {"8517", {"85171300", "85176200"},
     {"Smartphone #GB, unlocked", "Mobile phone, dual SIM, #GB", "Wireless router, dual band"},
     {"智能手机 #GB", "无线路由器", "手机, 双卡双待"}, {64, 128, 256, 512},
     30, 60, 180.0, 0.5, 800, 1.5, 0.4, 0.13, 0.0, 2},
    {"8471", {"84713000", "84714100"},
     {"Laptop computer #\" screen, i7", "Desktop PC, 16GB RAM", "Tablet computer, 10.1\""},
     {"笔记本电脑 #英寸", "平板电脑"}, {13, 14, 15, 16},
     25, 45, 120.0, 0.5, 1500, 1.4, 2.0, 0.13, 0.0, 2},
    {"8542", {"85423100", "85423200"},
     {"Integrated circuits, processors", "Memory chips, DRAM #GB"},
     {"集成电路 处理器", "存储器芯片"}, {8, 16, 32},
     30, 25, 2000.0, 0.7, 50, 1.5, 0.002, 0.13, 0.2, 2},
    {"8507", {"85076000", "85071000"},
     {"Lithium-ion battery pack, 3.7V #mAh", "Rechargeable lithium battery cells",
      "Lead-acid battery 12V"},
     {"锂离子电池, 3.7V", "锂电池组", "铅酸蓄电池"}, {2000, 3000, 5000, 10000},
     20, 35, 25.0, 0.5, 3000, 1.2, 0.5, 0.19, 0.2, 1},
    {"8528", {"85287200", "85285200"},
     {"LED TV #\" 4K", "LCD monitor #\", black", "Projector, HD"},
     {"液晶电视机 #英寸", "液晶显示器"}, {24, 27, 32, 43, 55, 65},
     8, 25, 30.0, 0.5, 4000, 1.2, 12.0, 0.20, 0.0, 1},
    {"8806", {"88062200", "88069200"},
     {"Quadcopter drone with camera", "Unmanned aerial vehicle, agricultural spraying"},
     {"无人机", "植保无人机"}, {0},
     1, 4, 90.0, 0.6, 300, 1.3, 2.0, 0.20, 0.8, 2},
    {"6109", {"61091000", "61099000"},
     {"Men's cotton knitted T-shirt, 100% cotton", "Women's T-shirt, printed",
      "Children's T-shirts, assorted colours"},
     {"棉制针织男式T恤衫", "女式针织T恤"}, {0},
     10, 55, 12.0, 0.6, 2000, 1.3, 0.2, 0.21, 0.5, 1},
    {"6203", {"62034200", "62031100"},
     {"Men's trousers of cotton denim", "Men's suit, wool blend"},
     {"男式棉制牛仔长裤, 蓝色", "男式西服套装"}, {0},
     6, 30, 18.0, 0.6, 1500, 1.3, 0.6, 0.21, 0.5, 1},
    {"6110", {"61101100", "61102000"},
     {"Sweaters, knitted, wool", "Pullovers of cotton, printed \"NY\" logo"},
     {"羊毛针织套衫", "棉制套头衫"}, {0},
     5, 20, 16.0, 0.6, 1500, 1.3, 0.5, 0.21, 0.6, 1},
    {"6403", {"64039900", "64031900"},
     {"Leather shoes, men's", "Sports shoes, leather upper, rubber sole",
      "Boots, women's, leather upper"},
     {"皮鞋", "皮面运动鞋", "女式皮靴"}, {0},
     6, 30, 20.0, 0.6, 1500, 1.3, 1.0, 0.23, 0.6, 1},
    {"4202", {"42022200", "42029200", "42023100"},
     {"Handbag, PU leather", "Travel bag, nylon", "Wallet, genuine leather"},
     {"手提包", "旅行包", "真皮钱包"}, {0},
     8, 20, 22.0, 0.7, 800, 1.3, 0.8, 0.23, 0.7, 1},
    {"9503", {"95030000"},
     {"Plastic toy cars, assorted", "Plush toys, teddy bear", "Building blocks set, # pcs"},
     {"塑料玩具车", "毛绒玩具", "积木玩具"}, {100, 250, 500, 1000},
     5, 40, 8.0, 0.5, 3000, 1.2, 0.3, 0.13, 0.2, 1},
    {"9401", {"94013900", "94016100"},
     {"Office chair, swivel, mesh back", "Sofa, fabric, 3-seater"},
     {"办公转椅", "布艺沙发"}, {0},
     4, 20, 6.0, 0.5, 5000, 1.1, 15.0, 0.13, 0.0, 1},
    {"9403", {"94036000", "94032000"},
     {"Wooden furniture, dining table", "Steel cabinet, 2 doors"},
     {"木制餐桌", "钢制文件柜"}, {0},
     4, 20, 4.0, 0.5, 6000, 1.1, 30.0, 0.13, 0.0, 1},
    {"8708", {"87083000", "87084000", "87081000"},
     {"Brake pads for passenger cars", "Auto parts: gearbox housing", "Car bumper, plastic"},
     {"汽车刹车片", "汽车零部件：变速箱壳体", "汽车保险杠"}, {0},
     25, 35, 9.0, 0.6, 4000, 1.3, 3.0, 0.19, 0.1, 1},
    {"8703", {"87038000", "87032300"},
     {"Passenger car, electric, 5 seats", "SUV, gasoline, 2.0L"},
     {"纯电动乘用车", "汽油越野车 2.0L"}, {0},
     8, 15, 15.0, 0.4, 20000, 1.0, 1800.0, 0.28, 0.3, 0},
    {"3004", {"30049090", "30045000"},
     {"Medicaments in measured doses, tablets", "Vitamin supplements, capsules"},
     {"药品 片剂", "维生素胶囊"}, {0},
     10, 6, 60.0, 0.8, 500, 1.4, 0.5, 0.13, 0.4, 2},
    {"2933", {"29339900"},
     {"Heterocyclic compounds, pharmaceutical intermediate", "Organic chemical, CAS no. #"},
     {"杂环化合物 医药中间体", "有机化学品"}, {5162, 7732, 6469, 1310},
     8, 10, 40.0, 0.8, 2000, 1.3, 0.0, 0.19, 0.5, 1},
    {"3304", {"33049900", "33041000", "33049100"},
     {"Cosmetics: face cream, 50ml", "Lipstick, assorted shades",
      "Make-up powder, \"matte\" finish"},
     {"化妆品 面霜", "口红", "粉饼"}, {0},
     8, 6, 45.0, 0.7, 400, 1.4, 0.1, 0.33, 0.7, 2},
    {"3901", {"39011000", "39012000"},
     {"Polyethylene granules, LDPE", "HDPE resin in primary form"},
     {"低密度聚乙烯颗粒", "高密度聚乙烯树脂"}, {0},
     25, 8, 1.3, 0.3, 100000, 1.0, 0.0, 0.19, -0.3, 0},
    {"7208", {"72083900", "72085200"},
     {"Hot-rolled steel coil, width 1500mm", "Flat-rolled iron, non-alloy"},
     {"热轧钢卷", "非合金铁板"}, {0},
     8, 15, 0.7, 0.3, 500000, 1.0, 0.0, 0.16, -0.3, 0},
    {"7601", {"76011000", "76012000"},
     {"Unwrought aluminium ingots", "Aluminium alloy billets"},
     {"未锻轧铝锭", "铝合金锭"}, {0},
     6, 6, 2.4, 0.3, 200000, 1.0, 0.0, 0.13, -0.2, 0},
    {"2601", {"26011100", "26011200"},
     {"Iron ore fines, 62% Fe", "Iron ore pellets"},
     {"铁矿砂", "铁矿球团"}, {0},
     15, 0.2, 0.12, 0.25, 6.0e7, 0.7, 0.0, 0.13, -0.8, 0},
    {"2709", {"27090000"},
     {"Crude petroleum oil", "Crude oil, light"},
     {"原油"}, {0},
     8, 0.1, 0.55, 0.2, 6.0e7, 0.7, 0.0, 0.13, -0.8, 0},
    {"1201", {"12019010"},
     {"Soya beans, yellow, for crushing", "Soybeans, non-GMO"},
     {"黄大豆", "非转基因大豆"}, {0},
     12, 0.5, 0.55, 0.25, 5.0e7, 0.8, 0.0, 0.12, -0.3, 0},
    {"4403", {"44034900"},
     {"Logs of tropical wood, rough", "Tropical hardwood logs, not treated"},
     {"热带原木"}, {0},
     4, 0.1, 0.3, 0.5, 3.0e6, 1.0, 0.0, 0.09, 0.7, 0},
    {"0306", {"03061790", "03063200", "03061490"},
     {"Frozen shrimps, peeled", "Live lobsters", "Frozen crab, whole"},
     {"冻虾仁", "活龙虾", "冻蟹"}, {0},
     15, 5, 9.0, 0.6, 15000, 1.1, 0.0, 0.16, 0.6, 1},
    {"0202", {"02023000", "02022000"},
     {"Frozen boneless beef", "Frozen beef, bone-in cuts"},
     {"冻去骨牛肉", "冻带骨牛肉"}, {0},
     10, 0.2, 6.0, 0.4, 25000, 0.8, 0.0, 0.21, 0.5, 0},
    {"0803", {"08039000"},
     {"Fresh bananas", "Dried bananas, sliced"},
     {"鲜香蕉", "香蕉干"}, {0},
     6, 0.5, 0.8, 0.4, 20000, 0.8, 0.0, 0.19, 0.0, 0},
    {"2204", {"22042100", "22041000"},
     {"Red wine, 750ml bottles", "Sparkling wine \"Brut\", 750ml", "White wine, dry, 75cl"},
     {"红葡萄酒 750毫升", "起泡葡萄酒"}, {0},
     8, 0.5, 8.0, 0.8, 8000, 1.2, 1.2, 0.40, 0.6, 1},
    {"2402", {"24022000", "24021000"},
     {"Cigarettes containing tobacco", "Cigars, hand rolled"},
     {"卷烟", "雪茄烟"}, {0},
     1, 2, 60.0, 0.6, 1000, 1.3, 0.2, 1.50, 2.0, 1},
    {"7113", {"71131911", "71131100"},
     {"Gold jewellery, 18K", "Silver necklace with pendant"},
     {"金首饰", "银项链"}, {0},
     2, 3, 3000.0, 0.8, 20, 1.3, 0.05, 0.30, 1.2, 2},
    {"9102", {"91021100", "91021200"},
     {"Wrist watch, quartz, steel case", "Digital wrist watch, \"sport\" edition"},
     {"石英手表", "电子手表"}, {0},
     3, 8, 200.0, 0.8, 100, 1.4, 0.1, 0.25, 0.8, 2},
    {"8211", {"82119200", "82119300"},
     {"Kitchen knife set, stainless steel, # pcs", "Folding knife, steel blade"},
     {"不锈钢厨房刀具套装", "折叠刀"}, {3, 5, 7},
     1, 6, 15.0, 0.6, 800, 1.3, 0.5, 0.20, 0.8, 1},
    {"9304", {"93040000"},
     {"Air guns, spring-operated", "Air rifles, gas powered"},
     {"气枪"}, {0},
     0.3, 0.5, 50.0, 0.6, 200, 1.3, 3.0, 0.20, 3.0, 1},
    {"9306", {"93063000", "93069000"},
     {"Cartridges and parts thereof", "Ammunition parts"},
     {"子弹零件"}, {0},
     0.2, 0.3, 40.0, 0.6, 300, 1.3, 0.0, 0.20, 3.0, 1},
    {"3604", {"36041000", "36049000"},
     {"Fireworks, display type", "Signalling flares"},
     {"烟花", "信号弹"}, {0},
     0.2, 4, 5.0, 0.5, 5000, 1.2, 2.0, 0.20, 1.0, 1},
    {"8525", {"85258900", "85256000"},
     {"Transmission apparatus, radio", "Digital camera, #MP"},
     {"无线电发射设备", "数码相机"}, {12, 24, 48},
     5, 8, 150.0, 0.6, 500, 1.4, 0.6, 0.13, 0.4, 2},
    {"8526", {"85261090", "85269110"},
     {"Radar apparatus, marine", "GPS navigation receiver"},
     {"雷达设备", "GPS导航仪"}, {0},
     2, 3, 200.0, 0.7, 300, 1.4, 1.5, 0.13, 0.9, 2},
    {"8415", {"84151021", "84151010"},
     {"Air conditioner, split type, # BTU", "Air conditioning unit, window"},
     {"分体式空调", "窗式空调"}, {9000, 12000, 18000, 24000},
     2, 15, 10.0, 0.5, 6000, 1.1, 40.0, 0.23, 0.0, 1},
    {"8418", {"84182100", "84183000"},
     {"Refrigerator, double door, #L", "Freezer, chest type"},
     {"双门冰箱", "卧式冰柜"}, {200, 300, 450, 600},
     2, 12, 6.0, 0.5, 6000, 1.1, 60.0, 0.20, 0.0, 1},
    {"8443", {"84433211", "84439990"},
     {"Printer, laser, A4", "Toner cartridges, compatible with \"HP\" printers"},
     {"激光打印机", "硒鼓"}, {0},
     4, 10, 30.0, 0.6, 1500, 1.3, 8.0, 0.13, 0.3, 1},
    {"4011", {"40111000", "40112000"},
     {"New pneumatic tyres of rubber, 205/55R16", "Truck tyres, radial, 12R22.5"},
     {"新的充气橡胶轮胎", "卡车子午线轮胎"}, {0},
     4, 15, 3.0, 0.4, 10000, 1.0, 10.0, 0.20, 0.0, 1},
    {"9018", {"90183100", "90189099"},
     {"Medical instruments, syringes", "Blood pressure monitor, digital"},
     {"医用注射器", "电子血压计"}, {0},
     6, 8, 35.0, 0.7, 600, 1.3, 0.3, 0.17, 0.2, 2},
};
const uint32_t gen_n_products = sizeof gen_products / sizeof gen_products[0];

/* iso, weight (imports of other goods), weight (imports of bulk goods), risk, MRA partner AEO code digits (0 = not a partner),
 * local currency, share of declarations in it. MRA flags cover the partners
 * that appear in this table; the digit counts are illustrative formats. */
const gen_country gen_countries[] = {
    {"US", 12, 8, 0.0, 0, NULL, 0},      {"JP", 10, 0.3, 0.0, 13, "JPY", 0.4},
    {"KR", 10, 0.3, 0.0, 10, NULL, 0},     {"DE", 8, 0.3, 0.0, 12, "EUR", 0.35},
    {"TW", 6, 0.2, 0.1, 0, NULL, 0},       {"AU", 6, 30, 0.0, 11, NULL, 0},
    {"VN", 6, 1, 0.2, 0, NULL, 0},       {"BR", 5, 20, 0.1, 14, NULL, 0},
    {"MY", 4, 3, 0.1, 12, NULL, 0},      {"TH", 4, 2, 0.1, 13, NULL, 0},
    {"ID", 3, 6, 0.2, 0, NULL, 0},       {"FR", 3, 0.5, 0.0, 12, "EUR", 0.35},
    {"IT", 3, 0.2, 0.0, 12, "EUR", 0.35},  {"GB", 3, 0.3, 0.0, 0, "GBP", 0.25},
    {"RU", 3, 8, 0.2, 0, NULL, 0},       {"CA", 2, 5, 0.0, 0, NULL, 0},
    {"CL", 2, 3, 0.0, 10, NULL, 0},      {"SA", 2, 6, 0.1, 0, NULL, 0},
    {"NZ", 2, 2, 0.0, 13, NULL, 0},      {"IN", 2, 1, 0.3, 0, NULL, 0},
    {"HK", 2, 0.1, 0.3, 8, "HKD", 0.3},    {"MX", 1, 1, 0.1, 0, NULL, 0},
    {"NL", 1, 0.5, 0.0, 12, "EUR", 0.35},  {"CH", 1, 0.1, 0.0, 9, NULL, 0},
    {"ES", 1, 0.3, 0.0, 12, "EUR", 0.35},  {"BE", 1, 0.2, 0.0, 12, "EUR", 0.35},
    {"ZA", 1, 4, 0.1, 10, NULL, 0},      {"AR", 1, 3, 0.1, 0, NULL, 0},
    {"PE", 1, 2, 0.1, 0, NULL, 0},       {"SG", 1, 0.2, 0.1, 12, NULL, 0},
    {"AE", 1, 3, 0.3, 10, NULL, 0},      {"IL", 0.5, 0.05, 0.0, 9, NULL, 0},
    {"UY", 0.5, 1, 0.0, 12, NULL, 0},    {"TR", 1, 0.3, 0.3, 0, NULL, 0},
    {"PH", 1, 0.5, 0.3, 0, NULL, 0},       {"PK", 0.5, 0.2, 0.5, 0, NULL, 0},
    {"BD", 0.5, 0.05, 0.4, 0, NULL, 0},     {"KH", 0.5, 0.2, 0.6, 0, NULL, 0},
    {"LA", 0.3, 0.3, 0.6, 0, NULL, 0},     {"NG", 0.3, 1, 0.8, 0, NULL, 0},
    {"IR", 0.2, 0.3, 1.5, 0, NULL, 0},     {"VE", 0.2, 0.3, 1.0, 0, NULL, 0},
    {"MM", 0.2, 0.3, 1.2, 0, NULL, 0},     {"AF", 0.05, 0.02, 2.0, 0, NULL, 0},
    {"SY", 0.05, 0.02, 2.0, 0, NULL, 0},    {"KP", 0.02, 0.01, 2.5, 0, NULL, 0},
    {"YE", 0.05, 0.05, 1.5, 0, NULL, 0},    {"LY", 0.05, 0.2, 1.5, 0, NULL, 0},
};
const uint32_t gen_n_countries = sizeof gen_countries / sizeof gen_countries[0];

/* 4-digit customs office codes with relative volumes: a few big ports dominate. */
const gen_office gen_offices[] = {
    {"2233", 18}, {"2244", 10}, {"2248", 6}, {"3100", 9}, {"5316", 9}, {"5301", 6},
    {"5141", 5},  {"0100", 4},  {"0201", 4}, {"4200", 4}, {"4218", 3}, {"2300", 4},
    {"2301", 3},  {"6000", 2},  {"8000", 2}, {"9000", 2}, {"7900", 1}, {"7200", 1},
    {"5700", 2},  {"0400", 2},  {"1500", 1}, {"1900", 1}, {"2900", 2}, {"3700", 2},
};
const uint32_t gen_n_offices = sizeof gen_offices / sizeof gen_offices[0];

/* Administrative division codes (GB/T 2260) of big trading districts. */
const char *const gen_admin_codes[] = {
    "310115", "310104", "440300", "440305", "440106", "330212", "330205", "320505",
    "320583", "370202", "350203", "120116", "110105", "210204", "420100", "500112",
    "510107", "610131", "330782", "441900", "440604", "130102", "340100", "460100",
};
const uint32_t gen_n_admin_codes = sizeof gen_admin_codes / sizeof gen_admin_codes[0];

const char *const gen_hubs[] = {"HK", "SG", "NL", "AE", "KR"};
const uint32_t gen_n_hubs = sizeof gen_hubs / sizeof gen_hubs[0];

double gen_fx_per_usd(const char *currency)
{
    static const struct {
        const char *code;
        double per_usd;
    } fx[] = {{"EUR", 0.92}, {"JPY", 150.0}, {"HKD", 7.8}, {"GBP", 0.79}, {"CNY", 7.2}};
    for (size_t i = 0; i < sizeof fx / sizeof fx[0]; i++)
        if (strcmp(fx[i].code, currency) == 0)
            return fx[i].per_usd;
    return 1.0;
}

int gen_country_index(const char *iso)
{
    for (uint32_t i = 0; i < gen_n_countries; i++)
        if (memcmp(gen_countries[i].iso, iso, 2) == 0)
            return (int)i;
    return -1;
}
